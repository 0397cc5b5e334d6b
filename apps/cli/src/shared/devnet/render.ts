import { renderPairs, renderTable } from '../table'
import { describeByzantine } from './byzantine'
import type { DevnetChainStatus, DevnetStatusResult } from './devnet'

/** Human view of a devnet: the node table, then etcd and the database. */
export function renderDevnetStatus(s: DevnetStatusResult): string {
  const nodes = renderTable(s.nodes, [
    { header: 'NODE', get: (n) => n.id },
    { header: 'API', get: (n) => n.apiUrl },
    { header: 'QUIC', get: (n) => n.quicAddr },
    { header: 'PID', get: (n) => n.pid },
    { header: 'HEALTH', get: (n) => n.health + (n.reason && n.health !== 'ready' ? ` (${n.reason})` : '') },
  ])
  const etcd = renderTable(s.etcd.members, [
    { header: 'ETCD', get: (m) => m.name },
    { header: 'CLIENT URL', get: (m) => m.clientUrl },
    { header: 'PEER URL', get: (m) => m.peerUrl },
    { header: 'PID', get: (m) => m.pid },
    { header: 'HEALTHY', get: (m) => m.healthy },
  ])
  const db = renderPairs([
    ['Directory', s.dir],
    ['Database', `${s.database.url} (${s.database.mode}${s.database.pid ? `, pid ${s.database.pid}` : ''}, ${s.database.healthy ? 'healthy' : 'UNREACHABLE'})`],
    ['etcd endpoints', s.etcd.endpoints.join(',')],
    ['Chain', s.chain ? chainLine(s.chain) : 'none (run `threshold-wallet devnet up`)'],
    ['Nodes ready', `${s.healthyNodes}/${s.nodes.length}`],
  ])
  const out = [nodes, '', etcd, '', db]
  // `?? []`: results of older CLIs (and hand-built ones) have no drill field.
  const drill = s.byzantine ?? []
  if (drill.length > 0) out.push('', byzantineLine(drill))
  return out.join('\n')
}

/** The loud status line of a devnet running a Byzantine drill. */
export function byzantineLine(drill: DevnetStatusResult['byzantine']): string {
  return `!! BYZANTINE DRILL: ${describeByzantine(drill)} (misbehaving on purpose; every node accepts drill changes at run time)`
}

function chainLine(c: DevnetChainStatus): string {
  if (c.external) return `${c.url} (${c.network}, outside chain, ${c.healthy ? `tip ${c.tipHeight}` : 'UNREACHABLE'})`
  const state = !c.running ? 'STOPPED' : c.healthy ? `tip ${c.tipHeight}` : 'UNREACHABLE'
  const interval = c.blockIntervalMs > 0 ? `block every ${c.blockIntervalMs / 1000}s` : 'mining on demand'
  return `${c.url} (${c.network}${c.pid ? `, pid ${c.pid}` : ''}, ${state}, ${interval})`
}
