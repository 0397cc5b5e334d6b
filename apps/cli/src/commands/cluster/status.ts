import type { ClusterStatusDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs, renderTable } from '../../shared/table'

const messages = Messages.load('cluster.status')

export default class ClusterStatus extends NodeCommand<ClusterStatusDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<ClusterStatusDto> {
    const { flags } = await this.parse(ClusterStatus)
    const s = await this.client(flags.node).clusterStatus()
    this.log(
      renderPairs([
        ['Answered by', `node ${s.nodeId} (${flags.node})`],
        ['Threshold', `${s.threshold}-of-${s.clusterSize}`],
        ['Nodes up', `${s.nodesUp}/${s.clusterSize}`],
        ['Leader', s.leader === null ? null : `node ${s.leader} (term ${s.leaderTerm ?? '-'})`],
        ['etcd', `${s.etcd.healthy ? 'healthy' : 'UNHEALTHY'}, ${s.etcd.members.length} members (${s.etcd.endpoints.join(', ')})`],
        ['Database', s.database.healthy ? 'healthy' : 'UNHEALTHY'],
        ['Banned', s.bannedNodes.length ? s.bannedNodes.join(', ') : 'none'],
      ]),
    )
    this.log('')
    this.log(
      renderTable(s.nodes, [
        { header: 'NODE', get: (n) => n.nodeId + (n.nodeId === s.leader ? ' (leader)' : '') },
        { header: 'UP', get: (n) => n.up },
        { header: 'API', get: (n) => n.apiUrl },
        { header: 'QUIC', get: (n) => n.quicAddr },
        { header: 'LAST SEEN', get: (n) => n.lastSeen },
        { header: 'BANNED', get: (n) => n.banned },
      ]),
    )
    return s
  }
}
