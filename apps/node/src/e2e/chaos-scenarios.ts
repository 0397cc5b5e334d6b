import { ApiClient, ApiError, type TransactionDto, type TransactionStateDto, type WalletType } from '@tw/api'
import { Etcd3 } from 'etcd3'
import { createHash } from 'node:crypto'
import { NodeCluster } from '../testing/node-cluster'
import { killEtcdMember, restartEtcdMember, SeededRandom, TcpProxy } from '../testing/chaos'
import { getJson as etcdHealthJson } from '../testing/etcd'
import { until } from '../testing/until'
import { testAddress } from './wallet-scenarios'

/**
 * The chaos suite (issue 14 item 6): five nodes, three etcd members, PostgreSQL behind a TCP
 * proxy the test owns, the embedded regtest chain; sends run one after another while a seeded
 * schedule of faults hits the cluster at chosen send states. Afterwards the chain, etcd and the
 * API are checked for exactly-once sends, released coins, a consistent balance, no honest node
 * accused and an intact audit chain. `runChaos` returns the report; the spec asserts on it.
 */

export type FaultKind = 'kill9' | 'etcd-member' | 'postgres-down' | 'sigstop' | 'leader-after-broadcast'
export const FAULT_KINDS: FaultKind[] = ['kill9', 'etcd-member', 'postgres-down', 'sigstop', 'leader-after-broadcast']
type Phase = 'voting' | 'signing' | 'broadcast'
/** The send states each injection phase waits for (a later state counts: the send was faster than the poll). */
const PHASE_STATES: Record<Phase, TransactionStateDto[]> = {
  voting: ['pending', 'voting'],
  signing: ['approved', 'signing'],
  broadcast: ['signed', 'broadcast'],
}
const ORDER: TransactionStateDto[] = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed']
const TERMINAL: TransactionStateDto[] = ['confirmed', 'rejected', 'failed', 'expired']

export interface ChaosProfile {
  name: 'short' | 'full'
  sends: number
  faults: number
  types: WalletType[]
  /** Wall-clock budget for the send loop (sends stop being started after it). */
  budgetMs: number
  /** How long the loop follows one send before it moves on (the send stays in flight). */
  sendMs: number
  /** After the loop, how long the sends still in flight may take to reach a final state before they count as hung. */
  finalWaitMs: number
  sessionTimeoutMs: number
  /**
   * Sends in flight at once (lanes taking the next send). Faults still come one at a time, each
   * at its own send's state; the schedule is drawn up front, so a seed means the same sends and
   * faults whatever the timing.
   */
  concurrency: number
}

export interface FaultRecord {
  n: number
  kind: FaultKind
  target: string
  send: number
  phase: Phase
  /** The send's state when the fault hit. */
  atState: string
  holdMs: number
  /** What an unaffected node's /health/ready said while the fault held. */
  during: string
  outcome: string
  recoveredS: number | null
}

export interface SendRecord {
  i: number
  type: WalletType
  to: string
  amountSats: number
  key: string
  id: string | null
  /** API refusals retried with the same Idempotency-Key before the send was accepted. */
  retries: number
  refusedWith: string | null
  final: TransactionDto | null
  seconds: number | null
  hung: boolean
}

export interface ChaosReport {
  seed: number
  profile: ChaosProfile
  sends: SendRecord[]
  faults: FaultRecord[]
  problems: string[]
  ecdsaKeyS: number | null
  durationS: number
  table: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const msg = (err: unknown) => (err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err))

export async function runChaos(seed: number, profile: ChaosProfile, log: (line: string) => void): Promise<ChaosReport> {
  const t0 = Date.now()
  const rng = new SeededRandom(seed)
  const problems: string[] = []
  const sends: SendRecord[] = []
  const faults: FaultRecord[] = []
  let cluster: NodeCluster | null = null
  let proxy: TcpProxy | null = null
  let ecdsaKeyS: number | null = null
  /** Each injected fault's run (kill, hold, restore, recovery), awaited before the checks. */
  const injections = new Map<FaultRecord, Promise<void>>()
  /** Faults come one at a time: the next faulted send waits for the previous fault's recovery. */
  let faultGate: Promise<void> = Promise.resolve()
  /** The lanes do not mine while a leader is being killed after broadcast (the block comes after the kill). */
  let miningPaused = false
  /** Nodes whose API must not be asked (killed, stopped). */
  const impaired = new Set<number>()
  const ids = [1, 2, 3, 4, 5]
  const client = (id: number, timeoutMs = 10_000) => new ApiClient({ baseUrl: cluster!.node(id).apiUrl, token: cluster!.adminToken, timeoutMs })
  const healthy = () => ids.filter((id) => !impaired.has(id) && cluster!.node(id).proc !== null)
  const anyClient = () => {
    const h = healthy()
    return client(h[Math.floor(Math.random() * h.length)] ?? 1)
  }
  /** An API call on any healthy node, retried on other nodes while they fail (bounded). */
  const withApi = async <T>(what: string, fn: (c: ApiClient) => Promise<T>, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms
    let last: unknown
    while (Date.now() < deadline) {
      try {
        return await fn(anyClient())
      } catch (err) {
        last = err
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 409 && err.status !== 429) throw err
        await sleep(500)
      }
    }
    throw new Error(`${what}: ${msg(last)}`)
  }
  const chainUrl = () => cluster!.chain!.url
  const chainGet = async <T>(p: string): Promise<T> => {
    const res = await fetch(chainUrl() + p)
    if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const chainPost = async <T>(p: string, body: unknown): Promise<T> => {
    const res = await fetch(chainUrl() + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const mine = () => chainPost('/regtest/mine', { blocks: 1 })
  const confirmed = async (type: WalletType) => (await withApi('balance', (c) => c.balance())).wallets.find((w) => w.type === type)?.confirmedSats ?? 0
  /** Every wallet address the suite funded or that received change. */
  const walletAddresses: Record<WalletType, Set<string>> = { segwit: new Set(), taproot: new Set() }
  const fund = async (type: WalletType, amounts: number[]) => {
    const before = await confirmed(type)
    for (const amountSats of amounts) {
      const { address } = await withApi('address', (c) => c.address(type))
      walletAddresses[type].add(address)
      await chainPost('/regtest/faucet', { address, amountSats })
    }
    await mine()
    const want = before + amounts.reduce((a, b) => a + b, 0)
    await until(`${type} balance ${want}`, 60_000, async () => (await confirmed(type)) === want, 500)
  }

  const readyWatch = async (exclude: number[]): Promise<string> => {
    const parts: string[] = []
    for (const id of healthy().filter((x) => !exclude.includes(x))) {
      const h = await client(id, 3000)
        .health('ready')
        .catch((err) => ({ status: `unreachable (${msg(err)})`, error: undefined }) as { status: string; error?: Record<string, unknown> })
      const bad = h.error ? Object.keys(h.error) : []
      parts.push(`n${id} ${h.status}${bad.length ? `(${bad.join(',')})` : ''}`)
    }
    // Group identical answers: "ready ok ×4" reads better than four columns.
    const groups = new Map<string, number[]>()
    for (const p of parts) {
      const [n, ...rest] = p.split(' ')
      const k = rest.join(' ')
      groups.set(k, [...(groups.get(k) ?? []), Number(n.slice(1))])
    }
    return [...groups].map(([k, ns]) => `${k} on ${ns.join(',')}`).join('; ')
  }

  /** The node is up again, ready, and sees the whole cluster. */
  const nodeBack = async (id: number, ms: number) =>
    until(
      `node ${id} ready with 5 up`,
      ms,
      async () => {
        const h = await client(id, 3000).health('ready')
        if (h.status !== 'ok') return false
        return (await client(id, 3000).clusterStatus()).nodesUp === 5
      },
      500,
    )

  const restartNode = async (id: number) => {
    if (cluster!.node(id).proc === null) cluster!.start(id)
  }
  const killNode = async (id: number) => {
    const proc = cluster!.node(id).proc
    if (!proc) return
    impaired.add(id)
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve())
      proc.kill('SIGKILL')
    })
  }
  const leaderNow = async () => (await withApi('cluster status', (c) => c.clusterStatus(), 20_000)).leader

  try {
    cluster = await NodeCluster.create(5, { TW_SESSION_TIMEOUT_MS: String(profile.sessionTimeoutMs), TW_DKG_TIMEOUT_MS: '60000' }, { chain: true, etcd: 3 })
    const dbUrl = new URL(cluster.db.url)
    proxy = await TcpProxy.start(dbUrl.hostname, Number(dbUrl.port || 5432))
    const proxied = new URL(cluster.db.url)
    proxied.port = String(proxy.port)
    for (const n of cluster.nodes) n.env.TW_DATABASE_URL = proxied.toString()
    log(
      `chaos: seed ${seed} (replay: TW_CHAOS_SEED=${seed}), profile ${profile.name}: ${profile.sends} sends, ${profile.faults} faults, types ${profile.types.join('+')}; dir ${cluster.dir}`,
    )
    for (const id of ids) cluster.start(id)
    await until(
      'five nodes ready with a leader',
      120_000,
      async () => {
        for (const id of ids) if ((await client(id, 3000).health('ready')).status !== 'ok') return false
        const s = await client(1).clusterStatus()
        return s.nodesUp === 5 && s.leader !== null && s.etcd.members.length === 3
      },
      500,
    )
    const keyActive = async (protocol: 'schnorr' | 'ecdsa', ms: number) => {
      let key = await client(2).createKey({ protocol }, 90_000)
      const id = key.id
      if (key.status !== 'active') {
        key = await until(
          `${protocol} key active`,
          ms,
          async () => {
            const k = (await client(2).listKeys()).keys.find((x) => x.id === id)
            if (k?.status === 'failed') throw new Error(`${protocol} key failed: ${k.error}`)
            return k?.status === 'active' ? k : null
          },
          1000,
        )
      }
      return key
    }
    await keyActive('schnorr', 180_000)
    log(`chaos: Taproot key active after ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    if (profile.types.includes('segwit')) {
      const k0 = Date.now()
      await keyActive('ecdsa', 15 * 60_000)
      ecdsaKeyS = Math.round((Date.now() - k0) / 1000)
      log(`chaos: ECDSA key (aux info + DKG) active in ${ecdsaKeyS} s`)
    }
    for (const type of profile.types) {
      const coins = Math.min(24, Math.max(6, Math.ceil(profile.sends / 8)))
      await fund(
        type,
        Array.from({ length: coins }, () => 200_000),
      )
    }
    log(`chaos: funded; cluster ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`)

    // ------------------------------------------------------------ the schedule
    // Every fault kind once (in a seeded order) while there is room, then seeded picks; each
    // fault hits one send (never the first: the cluster has to have sent once), spread out.
    const kinds: FaultKind[] = []
    const firstRound = [...FAULT_KINDS]
    while (kinds.length < profile.faults) {
      if (firstRound.length) kinds.push(firstRound.splice(rng.int(0, firstRound.length - 1), 1)[0])
      else kinds.push(rng.pick(FAULT_KINDS))
    }
    const slots = Array.from({ length: profile.sends - 1 }, (_, i) => i + 1)
    const faultAt = new Map<number, FaultKind>()
    const stride = (profile.sends - 1) / Math.max(1, kinds.length)
    kinds.forEach((k, j) => {
      let s = Math.min(profile.sends - 1, 1 + Math.floor(j * stride + rng.next() * Math.max(0, stride - 1)))
      while (faultAt.has(s) && slots.length) s = (s % (profile.sends - 1)) + 1
      faultAt.set(s, k)
    })

    // Everything random is drawn now, in send order (the same draws as one send after another):
    // with several lanes the seed still fixes every amount, fault, phase, target and hold.
    const plan = Array.from({ length: profile.sends }, (_, i) => {
      const amountSats = 5_000 + rng.int(0, 20) * 500
      const kind = faultAt.get(i)
      if (!kind) return { amountSats, fault: null }
      const phase: Phase = kind === 'leader-after-broadcast' ? 'broadcast' : rng.pick(['voting', 'signing', 'broadcast'] as const)
      const holdMs =
        kind === 'kill9'
          ? rng.int(0, 4000)
          : kind === 'etcd-member'
            ? rng.int(3000, 8000)
            : kind === 'postgres-down'
              ? rng.int(5000, 12_000)
              : kind === 'sigstop'
                ? profile.sessionTimeoutMs + rng.int(2000, 5000)
                : rng.int(2000, 5000)
      const target =
        kind === 'kill9' || kind === 'sigstop' ? `node ${rng.int(1, 5)}` : kind === 'etcd-member' ? `etcd${rng.int(0, 2)}` : kind === 'postgres-down' ? 'pg proxy' : 'leader'
      return { amountSats, fault: { kind, phase, holdMs, target } }
    })

    const inflight: { rec: SendRecord; started: number; fault: FaultRecord | null }[] = []
    const sendStart = Date.now()
    let next = 0
    let stopped = false
    const oneSend = async (i: number) => {
      const type = profile.types[i % profile.types.length]
      const rec: SendRecord = {
        i,
        type,
        to: testAddress(),
        amountSats: plan[i].amountSats,
        key: `chaos-${seed}-${i}-${createHash('sha256').update(String(t0)).digest('hex').slice(0, 8)}`,
        id: null,
        retries: 0,
        refusedWith: null,
        final: null,
        seconds: null,
        hung: false,
      }
      sends.push(rec)
      const drawn = plan[i].fault
      let fault: FaultRecord | null = null
      let release = () => {}
      if (drawn) {
        // One fault at a time: the previous one is restored and recovered before the next.
        const previous = faultGate
        faultGate = new Promise<void>((r) => (release = r))
        await previous
        fault = {
          n: faults.length + 1,
          kind: drawn.kind,
          target: drawn.target,
          send: i,
          phase: drawn.phase,
          atState: '',
          holdMs: drawn.holdMs,
          during: '',
          outcome: '',
          recoveredS: null,
        }
        faults.push(fault)
      }
      try {
        const started = Date.now()
        // ---- submit, retrying API-edge refusals with the same Idempotency-Key
        const body = { to: rec.to, amountSats: rec.amountSats, feeRate: 2, type }
        const submitDeadline = Date.now() + 90_000
        while (rec.id === null && Date.now() < submitDeadline) {
          try {
            const tx = await anyClient().send(body, rec.key, 20_000)
            rec.id = tx.id
          } catch (err) {
            if (err instanceof ApiError && (err.status === 0 || err.status === 503 || err.status === 409 || err.status >= 500) && err.code !== 'IDEMPOTENCY_KEY_REUSED') {
              rec.retries++
              rec.refusedWith = `${err.status} ${err.code}`
              await sleep(1000)
              continue
            }
            rec.refusedWith = msg(err)
            break
          }
        }
        if (rec.id === null) {
          problems.push(`send #${i} never accepted: ${rec.refusedWith}`)
          if (fault) fault.outcome = 'not injected (send refused)'
          return
        }
        // ---- drive it to a final state, injecting the fault at its phase; a send still in
        // flight after `sendMs` is left to finish (it holds its own coins) and awaited at the end.
        const tx = await drive(rec, fault, started + profile.sendMs)
        rec.final = tx
        rec.seconds = Math.round((Date.now() - started) / 100) / 10
        if (!tx || !TERMINAL.includes(tx.state)) inflight.push({ rec, started, fault })
        else finish(rec, fault)
      } finally {
        // The next fault may start once this one has recovered (or was never injected).
        const running = fault ? injections.get(fault) : undefined
        if (running) void running.finally(release)
        else release()
      }
    }
    const lane = async () => {
      for (;;) {
        if (next >= profile.sends) return
        if (Date.now() - sendStart > profile.budgetMs) {
          if (!stopped) log(`chaos: send loop stopped after ${next} sends: ${profile.budgetMs / 1000} s budget spent`)
          stopped = true
          return
        }
        await oneSend(next++)
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, profile.concurrency) }, lane))
    sends.sort((a, b) => a.i - b.i)
    log(`chaos: send loop done in ${Math.round((Date.now() - sendStart) / 1000)} s (${sends.length} sends, ${profile.concurrency} at a time)`)
    await Promise.all(injections.values())
    // The sends left in flight: every one must reach a final state (a send stuck in voting or
    // approved fails at the 5-minute voting deadline and releases its coins; past that it hangs).
    const lateDeadline = Date.now() + profile.finalWaitMs
    for (const f of inflight) {
      f.rec.final = await drive(f.rec, null, lateDeadline)
      f.rec.seconds = Math.round((Date.now() - f.started) / 100) / 10
      if (!f.rec.final || !TERMINAL.includes(f.rec.final.state)) {
        f.rec.hung = true
        problems.push(`send #${f.rec.i} (${f.rec.id}) hung in ${f.rec.final?.state ?? 'unknown'} (${JSON.stringify(f.rec.final?.error)}) for ${f.rec.seconds} s`)
      }
      finish(f.rec, f.fault)
    }

    // ------------------------------------------------------------ the checks
    await checks()
  } catch (err) {
    problems.push(`aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  } finally {
    // Nothing stays stopped (SIGCONT before SIGTERM), everything the suite started is stopped.
    for (const n of cluster?.nodes ?? []) n.proc?.kill('SIGCONT')
    if (problems.length && cluster) log(cluster.logTails(40))
    if (cluster) await cluster.destroy().catch((err) => log(`destroy: ${msg(err)}`))
    if (proxy) await proxy.close()
  }

  const table = renderTable()
  return { seed, profile, sends, faults, problems, ecdsaKeyS, durationS: Math.round((Date.now() - t0) / 1000), table }

  // ------------------------------------------------------------------ sends
  /** Polls send `rec` until a final state or `until_`, injecting `fault` at its phase and mining broadcasts. */
  async function drive(rec: SendRecord, fault: FaultRecord | null, until_: number): Promise<TransactionDto | null> {
    let injected = !fault
    let lastMine = 0
    let tx: TransactionDto | null = rec.final
    while (Date.now() < until_) {
      try {
        tx = await anyClient().transaction(rec.id!)
      } catch {
        await sleep(300)
        continue
      }
      if (fault && !injected) {
        const reached = PHASE_STATES[fault.phase].includes(tx.state) || ORDER.indexOf(tx.state) > ORDER.indexOf(PHASE_STATES[fault.phase][1]) || TERMINAL.includes(tx.state)
        if (reached) {
          injected = true
          fault.atState = tx.state
          injections.set(fault, inject(fault, tx))
          // A kill at broadcast (the leader's case): the block comes after the kill.
          await sleep(200)
          continue
        }
      }
      if (TERMINAL.includes(tx.state)) break
      if (tx.state === 'broadcast' && !miningPaused && Date.now() - lastMine > 2000) {
        lastMine = Date.now()
        await mine().catch(() => undefined)
      }
      await sleep(tx.state === 'voting' || tx.state === 'approved' ? 1000 : 250)
    }
    return tx
  }

  function finish(rec: SendRecord, fault: FaultRecord | null): void {
    const tx = rec.final
    if (fault) fault.outcome = `send #${rec.i} ${describeOutcome(rec)}`
    // One etcd member of three is no outage: the send it hit is not interrupted.
    if (fault?.kind === 'etcd-member' && fault.atState && tx?.state !== 'confirmed') {
      problems.push(`send #${rec.i} hit by etcd member ${fault.target} going down ended ${tx?.state} (${JSON.stringify(tx?.error)}): one member of three must not interrupt sends`)
    }
    for (const o of tx?.outputs ?? []) if (o.change && o.address && tx?.state === 'confirmed') walletAddresses[rec.type].add(o.address)
    log(
      `chaos: send #${rec.i} ${rec.type} ${describeOutcome(rec)}${rec.retries ? ` (${rec.retries} retries: ${rec.refusedWith})` : ''}${fault ? ` [fault ${fault.kind} ${fault.target} at ${fault.atState}]` : ''}`,
    )
  }

  // ------------------------------------------------------------------ faults
  async function inject(f: FaultRecord, tx: TransactionDto): Promise<void> {
    const c = cluster!
    try {
      let restore: () => Promise<void>
      let recovered: () => Promise<unknown>
      let exclude: number[] = []
      switch (f.kind) {
        case 'kill9':
        case 'leader-after-broadcast': {
          let id: number
          if (f.kind === 'leader-after-broadcast') {
            miningPaused = true
            id = (await leaderNow()) ?? 1
            f.target = `leader n${id}`
          } else {
            id = Number(f.target.split(' ')[1])
            if (tx.signers?.includes(id)) f.target += ' (signer)'
          }
          exclude = [id]
          await killNode(id)
          if (f.kind === 'leader-after-broadcast') miningPaused = false
          restore = async () => restartNode(id)
          recovered = async () => {
            await nodeBack(id, 120_000)
            impaired.delete(id)
          }
          break
        }
        case 'sigstop': {
          const id = Number(f.target.split(' ')[1])
          exclude = [id]
          impaired.add(id)
          c.node(id).proc?.kill('SIGSTOP')
          restore = async () => {
            c.node(id).proc?.kill('SIGCONT')
          }
          recovered = async () => {
            await nodeBack(id, 120_000)
            impaired.delete(id)
          }
          break
        }
        case 'etcd-member': {
          const member = c.etcd.members[Number(f.target.slice(4))]
          const saved = await killEtcdMember(member)
          restore = async () => restartEtcdMember(member, saved)
          recovered = async () => {
            await until(`${member.name} healthy`, 60_000, async () => ((await etcdHealthJson(`${member.clientUrl}/health`)) as { health?: string }).health === 'true', 500)
            await until(
              'every node sees etcd healthy',
              60_000,
              async () => {
                for (const id of healthy()) if (!(await client(id, 3000).clusterStatus()).etcd.healthy) return false
                return true
              },
              500,
            )
          }
          break
        }
        case 'postgres-down': {
          await proxy!.cut()
          restore = () => proxy!.restore()
          recovered = () =>
            until(
              'every node sees the database healthy',
              90_000,
              async () => {
                for (const id of healthy()) {
                  if (!(await client(id, 3000).clusterStatus()).database.healthy) return false
                  if ((await client(id, 3000).health('ready')).status !== 'ok') return false
                }
                return true
              },
              500,
            )
          break
        }
      }
      const hitAt = Date.now()
      await sleep(Math.max(0, f.holdMs - 1500))
      f.during = await readyWatch(exclude).catch((err) => `? ${msg(err)}`)
      await sleep(Math.min(1500, f.holdMs))
      await restore()
      const restoredAt = Date.now()
      try {
        await recovered()
        f.recoveredS = Math.round((Date.now() - restoredAt) / 100) / 10
      } catch (err) {
        problems.push(`fault #${f.n} ${f.kind} ${f.target}: not recovered: ${msg(err)}`)
      }
      void hitAt
    } catch (err) {
      problems.push(`fault #${f.n} ${f.kind} ${f.target}: injection failed: ${msg(err)}`)
    } finally {
      miningPaused = false
    }
  }

  // ------------------------------------------------------------------ checks
  async function checks(): Promise<void> {
    const c = cluster!
    // Every send final, mined in, and every node caught up.
    await mine()
    await sleep(3000)
    const etcd = new Etcd3({ hosts: c.etcd.endpoints })
    try {
      const locks = await etcd.getAll().prefix('/tw/utxo-locks/').strings()
      const lockOwners = new Map<string, string>()
      for (const [k, v] of Object.entries(locks)) {
        try {
          lockOwners.set(k, (JSON.parse(v) as { txId?: string }).txId ?? '?')
        } catch {
          lockOwners.set(k, '?')
        }
      }
      for (const s of sends) {
        if (!s.id) continue
        const tx = await withApi(`transaction ${s.id}`, (cl) => cl.transaction(s.id!))
        s.final = tx
        const stats = await chainGet<{ chain_stats: { funded_txo_count: number }; mempool_stats: { funded_txo_count: number } }>(`/address/${s.to}`)
        const paid = stats.chain_stats.funded_txo_count + stats.mempool_stats.funded_txo_count
        if (tx.state === 'confirmed') {
          if (!tx.txid) {
            problems.push(`send #${s.i} ${tx.id}: confirmed without a txid`)
            continue
          }
          const onChain = await chainGet<{ status: { confirmed: boolean } }>(`/tx/${tx.txid}`).catch(() => null)
          if (!onChain?.status.confirmed) problems.push(`send #${s.i} ${tx.id}: confirmed in the API but ${tx.txid} is not confirmed on chain`)
          for (const inp of tx.inputs) {
            const o = await chainGet<{ spent: boolean; txid?: string }>(`/tx/${inp.txid}/outspend/${inp.vout}`)
            if (!o.spent || o.txid !== tx.txid) problems.push(`send #${s.i} ${tx.id}: input ${inp.txid}:${inp.vout} spent by ${o.txid ?? 'nothing'}, not ${tx.txid}`)
          }
          const utxos = await chainGet<{ txid: string; value: number }[]>(`/address/${s.to}/utxo`)
          if (paid !== 1 || utxos.length !== 1 || utxos[0].txid !== tx.txid || utxos[0].value !== s.amountSats) {
            problems.push(`send #${s.i} ${tx.id}: destination ${s.to} paid ${paid} times (${JSON.stringify(utxos)}), expected once by ${tx.txid}`)
          }
          if (tx.history.filter((h) => h.state === 'signed').length > 1) problems.push(`send #${s.i} ${tx.id}: signed more than once (${JSON.stringify(tx.history)})`)
        } else if (['failed', 'rejected', 'expired'].includes(tx.state)) {
          if (paid !== 0) problems.push(`send #${s.i} ${tx.id}: ${tx.state} but its destination was paid ${paid} time(s)`)
          for (const inp of tx.inputs) {
            const k = `/tw/utxo-locks/${inp.txid}:${inp.vout}`
            if (lockOwners.get(k) === tx.id) problems.push(`send #${s.i} ${tx.id}: ${tx.state} (${tx.error?.code}) but its coin ${inp.txid}:${inp.vout} is still locked`)
          }
        } else {
          problems.push(`send #${s.i} ${tx.id}: still ${tx.state} at the end`)
        }
      }
      const stale = [...lockOwners].filter(([, owner]) => !sends.some((s) => s.id === owner && s.final && !TERMINAL.includes(s.final.state)))
      if (stale.length) problems.push(`coin locks left after every send ended: ${stale.map(([k, o]) => `${k} (tx ${o})`).join(', ')}`)
    } finally {
      etcd.close()
    }
    // The balance, per type, equals what the chain holds at the wallet's addresses.
    for (const type of profile.types) {
      let onChain = 0
      for (const a of walletAddresses[type]) {
        const utxos = await chainGet<{ value: number; status: { confirmed: boolean } }[]>(`/address/${a}/utxo`)
        onChain += utxos.filter((u) => u.status.confirmed).reduce((x, u) => x + u.value, 0)
      }
      let api = -1
      let reserved = -1
      try {
        await until(
          `${type} balance = chain (${onChain})`,
          60_000,
          async () => {
            const b = (await withApi('balance', (cl) => cl.balance())).wallets.find((w) => w.type === type)
            api = b?.confirmedSats ?? -1
            reserved = b?.reservedSats ?? -1
            return api === onChain && reserved === 0
          },
          1000,
        )
      } catch {
        problems.push(`${type} balance: API confirmed ${api} sats (reserved ${reserved}), chain ${onChain} sats at the ${walletAddresses[type].size} wallet addresses`)
      }
    }
    // Every node honest: no accusation, no ban; the audit chain verifies on every node.
    for (const id of healthy()) {
      const v = await client(id).violations()
      if (v.violations.length || v.bans.length) {
        problems.push(
          `node ${id} lists violations/bans (all nodes are honest): ${JSON.stringify({ violations: v.violations.map((x) => ({ type: x.type, offender: x.offender, status: x.status, accusers: x.accusers, session: x.sessionId })), bans: v.bans })}`,
        )
      }
      const audit = await client(id).request<{ ok: boolean; checked: number; reason: string | null }>('GET', '/api/v1/audit/verify')
      if (!audit.ok) problems.push(`node ${id}: audit chain broken: ${audit.reason}`)
    }
  }

  function renderTable(): string {
    const rows: string[][] = [['#', 'fault', 'target', 'send', 'state hit', 'held', '/health/ready elsewhere during', 'send outcome', 'recovered']]
    for (const f of faults) {
      rows.push([
        String(f.n),
        f.kind,
        f.target,
        `#${f.send}`,
        f.atState || '-',
        `${(f.holdMs / 1000).toFixed(1)} s`,
        f.during || '-',
        f.outcome || '-',
        f.recoveredS === null ? 'NOT RECOVERED' : `${f.recoveredS} s after restore`,
      ])
    }
    const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)))
    const line = (r: string[]) => `| ${r.map((x, j) => x.padEnd(widths[j])).join(' | ')} |`
    const out = [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)]
    const count = new Map<string, number>()
    for (const s of sends) {
      const k = s.final ? `${s.type} ${s.final.state}${s.final.error && s.final.state !== 'confirmed' ? ` ${s.final.error.code}` : ''}` : `${s.type} not accepted`
      count.set(k, (count.get(k) ?? 0) + 1)
    }
    const secs = sends.filter((s) => s.seconds !== null).map((s) => s.seconds!)
    out.push('')
    out.push(
      `sends: ${sends.length} (${[...count].map(([k, n]) => `${n} ${k}`).join(', ')}); retried at the API edge: ${sends.filter((s) => s.retries).length}; send time median ${median(secs)} s, max ${Math.max(0, ...secs)} s`,
    )
    return out.join('\n')
  }
}

/** "confirmed in 3.1 s", "confirmed in 11 s (after attempt 1: TIMEOUT)", "failed CLUSTER_UNAVAILABLE in 300 s". */
function describeOutcome(s: SendRecord): string {
  const t = s.final
  if (!t) return 'unknown'
  const attempts = t.history.filter((h) => h.state === 'signing').length
  if (t.state === 'confirmed') return `confirmed in ${s.seconds} s${t.error ? ` (${attempts} signing attempts; an earlier one: ${t.error.code})` : ''}`
  return `${t.state}${t.error ? ` ${t.error.code}` : ''} in ${s.seconds} s`
}

function median(xs: number[]): number {
  if (!xs.length) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
