/**
 * End to end, as a new user runs it: the built `threshold-wallet` binary brings up a devnet
 * of the real node service (apps/node/dist/main.js) with real etcd and the machine's
 * PostgreSQL and the embedded regtest chain (@tw/regtest), creates keys, survives a node restart, and goes down leaving nothing running.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { AddressDto, AddressListDto, BalanceDto, ClusterStatusDto, DepositListDto, KeyListDto, KeyRefreshDto, QuoteDto, TransactionDto, UtxoListDto } from '@tw/api'
import type { SendResult } from '../commands/send'
import type { ReplaceResult } from '../shared/replace-command'
import type { DevnetDemoResult } from '../commands/devnet/demo'
import type { DevnetDownResult, DevnetStatusResult, DevnetUpResult } from '../shared/devnet/devnet'
import { pickFreeRange } from '../shared/devnet/ports'
import { isAlive } from '../shared/devnet/processes'
import { readStateSync } from '../shared/devnet/state'
import { BinResult, dropDatabase, MACHINE_DATABASE_URL, runBin, uniqueDbName } from '../testing/cli-bin'

const dir = mkdtempSync(join(tmpdir(), 'tw-e2e-devnet-'))
const dbName = uniqueDbName('tw_e2e')
const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: MACHINE_DATABASE_URL, TW_NODE_URL: undefined, TW_NODE_ENTRY: undefined, TW_REGTEST_ENTRY: undefined }
const seenPids = new Set<number>()

function statePids(): number[] {
  const s = readStateSync(dir, '/')
  return s ? [...s.nodes.map((n) => n.pid), ...s.etcd.map((m) => m.pid), s.database.pid, s.regtest?.pid].filter((p): p is number => !!p) : []
}

let failed = false
/** Marks the run failed (for the log dump in `after`) when `fn` throws. */
const guarded = (fn: () => Promise<void>) => async () => {
  try {
    await fn()
  } catch (err) {
    failed = true
    throw err
  }
}

after(async () => {
  // A failure in CI leaves only this output: show how each node's log ends before it is deleted.
  if (failed) {
    for (let id = 1; id <= 5; id++) {
      try {
        const lines = readFileSync(join(dir, 'logs', `node-${id}.log`), 'utf8')
          .trimEnd()
          .split('\n')
        process.stderr.write(`--- node-${id}.log (last 40 lines)\n${lines.slice(-40).join('\n')}\n`)
      } catch {
        // no log: the node never started
      }
    }
  }
  runBin(['devnet', 'down', '--dir', dir], env)
  for (const pid of seenPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  await dropDatabase(MACHINE_DATABASE_URL, dbName)
  rmSync(dir, { recursive: true, force: true })
})

function ok<T>(r: BinResult<T>): T {
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
  return r.json
}

function keysOn(url: string): KeyListDto {
  return ok(runBin<KeyListDto>(['keys', 'list', '--node', url], env))
}

/** Each protocol has exactly one active key, and every node reports the same public key. */
function assertSameKeysEverywhere(urls: string[]): void {
  const lists = urls.map(keysOn)
  for (const protocol of ['ecdsa', 'schnorr'] as const) {
    const active = lists.map((l) => l.keys.filter((k) => k.protocol === protocol && k.status === 'active'))
    for (const [i, keys] of active.entries()) assert.equal(keys.length, 1, `node ${i + 1}: one active ${protocol} key`)
    const pub = active[0][0].publicKey
    assert.match(pub ?? '', /^0[23][0-9a-f]{64}$/)
    for (const keys of active) {
      assert.equal(keys[0].id, active[0][0].id)
      assert.equal(keys[0].publicKey, pub)
    }
  }
}

test(
  'devnet: up, status, cluster status, keys on every node, a node restart, down',
  guarded(async () => {
    const basePort = await pickFreeRange(5)
    const up = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir, '--db-name', dbName, '--base-port', String(basePort)], env))
    for (const p of statePids()) seenPids.add(p)
    assert.match(up.warning, /INSECURE/)

    const status = ok(runBin<DevnetStatusResult>(['devnet', 'status', '--dir', dir], env))
    assert.equal(status.healthyNodes, 5)
    assert.ok(status.nodes.every((n) => n.health === 'ready' && n.running && n.pid))
    assert.ok(status.chain?.running && status.chain.healthy, 'regtest chain up')
    const urls = status.nodes.map((n) => n.apiUrl)

    const cluster = ok(runBin<ClusterStatusDto>(['cluster', 'status', '--node', urls[0]], env))
    assert.equal(cluster.nodesUp, 5)
    assert.equal(cluster.nodes.filter((n) => n.up).length, 5)
    assert.ok(cluster.leader !== null && cluster.leader >= 1 && cluster.leader <= 5, 'one leader')
    assert.equal(cluster.etcd.members.length, 3)
    assert.ok(cluster.etcd.healthy)

    assertSameKeysEverywhere(urls)

    // Kill one node; `devnet up` brings it back with the same keys.
    const victim = status.nodes[3]
    process.kill(victim.pid ?? 0, 'SIGKILL')
    const again = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env))
    assert.deepEqual(again.started.nodes, [victim.id])
    for (const p of statePids()) seenPids.add(p)
    assertSameKeysEverywhere(urls)

    // A node's keystore lost and restored from its encrypted backup (`nodes backup`, `nodes
    // restore`): it derives addresses from its own shares again. Without them it cannot.
    const keystore = join(dir, 'keystore', `node-${victim.id}`)
    const backupEnv = { ...env, TW_BACKUP_PASSPHRASE: 'e2e backup passphrase' }
    const backupFile = join(dir, `node${victim.id}.twbackup`)
    const backup = ok(runBin<{ files: number; skipped: string[] }>(['nodes', 'backup', '--keystore', keystore, '--out', backupFile], backupEnv))
    assert.ok(backup.files >= 4, `${backup.files} files backed up`)
    const restartedPid = readStateSync(dir, '/')?.nodes.find((n) => n.id === victim.id)?.pid ?? 0
    process.kill(restartedPid, 'SIGKILL')
    rmSync(keystore, { recursive: true, force: true })
    ok(runBin(['nodes', 'restore', '--in', backupFile, '--keystore', keystore], backupEnv))
    assert.deepEqual(ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env)).started.nodes, [victim.id])
    for (const p of statePids()) seenPids.add(p)
    const fromShare = ok(runBin<AddressDto>(['wallet', 'address', '--type', 'taproot', '--node', victim.apiUrl], env))
    assert.match(fromShare.address, /^bcrt1p/, 'the restored node derives addresses from its restored share')
    assertSameKeysEverywhere(urls)

    const down = ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', dir], env))
    assert.deepEqual(down.busyPorts, [])
    for (const pid of seenPids) assert.ok(!isAlive(pid), `pid ${pid} still alive after devnet down`)
  }),
)

test(
  'devnet demo: up again, fund both wallet types, a SegWit (ECDSA) and a Taproot (FROST) spend confirmed, balances drop by amount + fee, down',
  guarded(async () => {
    // The devnet of the test above (same keys), brought up again.
    ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env))
    for (const p of statePids()) seenPids.add(p)

    const demo = ok(runBin<DevnetDemoResult>(['devnet', 'demo', '--dir', dir, '--timeout', '840'], env))
    assert.deepEqual(
      demo.funding.map((f) => [f.type, f.amountSats]),
      [
        ['segwit', 200_000],
        ['taproot', 200_000],
      ],
    )
    assert.deepEqual(
      demo.spends.map((s) => [s.type, s.state, s.amountSats]),
      [
        ['segwit', 'confirmed', 50_000],
        ['taproot', 'confirmed', 50_000],
      ],
    )
    for (const s of demo.spends) {
      assert.match(s.txid ?? '', /^[0-9a-f]{64}$/, `${s.type} txid`)
      assert.ok(s.confirmations >= 1, `${s.type}: ${s.confirmations} confirmations`)
      assert.ok(s.feeSats > 0, `${s.type} fee`)
      assert.equal(s.signers?.length, 4, `${s.type} signers`)
      assert.ok(s.states.includes('broadcast') && s.states[s.states.length - 1] === 'confirmed', `${s.type} states ${s.states.join(' ')}`)
    }
    assert.equal(demo.spends.find((s) => s.type === 'taproot')?.signingMode, 'frost')
    assert.notEqual(demo.spends[0].txid, demo.spends[1].txid)

    // `wallet balance` afterwards shows each wallet's confirmed balance down by amount + fee.
    const balance = ok(runBin<BalanceDto>(['wallet', 'balance', '--node', demo.nodeUrl], env))
    for (const s of demo.spends) {
      const confirmed = balance.wallets.find((w) => w.type === s.type)?.confirmedSats
      assert.equal(confirmed, demo.balances.before[s.type] - s.amountSats - s.feeSats, `${s.type} balance`)
      assert.equal(confirmed, demo.balances.after[s.type])
    }

    // `utxo list`: each spend's change is a confirmed, spendable coin of its wallet (the payment
    // went to the faucet), and the coins add up to the balance.
    const url = demo.nodeUrl
    const coins = ok(runBin<UtxoListDto>(['utxo', 'list', '--node', url], env))
    assert.equal(coins.totals.spendableSats + coins.totals.reservedSats, balance.confirmedSats)
    for (const s of demo.spends) {
      const change = coins.utxos.filter((u) => u.txid === s.txid)
      assert.equal(change.length, 1, `${s.type}: its change output is listed`)
      assert.equal(change[0].type, s.type)
      assert.equal(change[0].status, 'spendable')
      assert.equal(change[0].reservedBy, null)
      assert.ok(change[0].confirmations >= 1)
      assert.match(change[0].path, /^m\/1\/\d+$/)
    }

    // `send --dry-run` reserves nothing, and the same send made next is the quoted transaction
    // (the SegWit wallet holds one coin now, so the choice of coins is not in doubt).
    const dest = ok(runBin<AddressDto>(['wallet', 'address', '--node', url, '--type', 'taproot', '--label', 'e2e self-payment'], env)).address
    const sendArgs = ['send', '--node', url, '--to', dest, '--amount', '20000', '--fee-rate', '2', '--type', 'segwit', '--timeout', '300']
    const quote = ok(runBin<QuoteDto>([...sendArgs, '--dry-run'], env))
    assert.equal(quote.inputs.length, 1)
    assert.equal(quote.inputs[0].valueSats, quote.amountSats + quote.changeSats + quote.feeSats)
    assert.deepEqual(ok(runBin<UtxoListDto>(['utxo', 'list', '--node', url, '--status', 'reserved'], env)).utxos, [], 'a quote reserves nothing')
    const sent = ok(runBin<SendResult>(sendArgs, env)).transaction
    assert.equal(sent.state, 'broadcast')
    assert.equal(sent.feeSats, quote.feeSats)
    assert.equal(sent.vsize, quote.vsize)
    assert.deepEqual(sent.inputs, quote.inputs)
    assert.deepEqual(sent.outputs, quote.outputs, 'same payment and the same change address: the quote took no address index')
    const after = ok(runBin<UtxoListDto>(['utxo', 'list', '--node', url], env))
    const spent = after.utxos.find((u) => u.txid === quote.inputs[0].txid && u.vout === quote.inputs[0].vout)
    assert.ok(!spent || (spent.status === 'reserved' && spent.reservedBy === sent.id), 'the spent coin is gone or reserved by the send')
    const outs = after.utxos.filter((u) => u.txid === sent.txid).map((u) => [u.type, u.valueSats])
    assert.deepEqual(
      outs.sort(),
      [
        ['segwit', quote.changeSats],
        ['taproot', 20_000],
      ].sort(),
      'the payment to our own Taproot address and the change are listed',
    )

    // `wallet deposits`: the two faucet payments came from outside, the send to our own Taproot
    // address from the wallet; the change is no deposit.
    const deposits = ok(runBin<DepositListDto>(['wallet', 'deposits', '--node', url], env)).deposits
    const byTxid = (a: (string | number)[], b: (string | number)[]) => String(a[2]).localeCompare(String(b[2]))
    assert.deepEqual(
      deposits
        .filter((d) => !d.fromWallet)
        .map((d) => [d.type, d.valueSats, d.txid, d.address])
        .sort(byTxid),
      demo.funding.map((f) => [f.type, f.amountSats, f.txid, f.address]).sort(byTxid),
    )
    const own = deposits.filter((d) => d.fromWallet)
    assert.deepEqual(
      own.map((d) => [d.type, d.valueSats, d.txid, d.address]),
      [['taproot', 20_000, sent.txid, dest]],
    )
    assert.ok(deposits.filter((d) => !d.fromWallet).every((d) => d.confirmations >= 2 && d.path.startsWith('m/0/')))

    // `wallet addresses`: the labelled address is listed newest first, used, with what it received.
    const taproot = ok(runBin<AddressListDto>(['wallet', 'addresses', '--node', url, '--type', 'taproot'], env)).addresses
    assert.deepEqual([taproot[0].address, taproot[0].label, taproot[0].used, taproot[0].receivedSats], [dest, 'e2e self-payment', true, 20_000])
    assert.ok(
      taproot.slice(1).every((a) => a.label === null),
      'only that one is labelled',
    )

    // A batch payout from the Taproot wallet: 20 recipients from a CSV file, one transaction;
    // once mined, the chain shows each address paid exactly its amount by that transaction.
    const payees = Array.from({ length: 20 }, () => ok(runBin<AddressDto>(['wallet', 'address', '--node', url, '--type', 'segwit'], env)).address)
    const csv = join(dir, 'payouts.csv')
    writeFileSync(csv, ['address,sats', ...payees.map((a, i) => `${a},${5_000 + 100 * i}`)].join('\n'))
    const batch = ok(
      runBin<SendResult>(
        ['send', '--node', url, '--csv', csv, '--type', 'taproot', '--fee-rate', '2', '--memo', 'e2e payouts', '--external-id', 'batch-1', '--timeout', '300'],
        env,
      ),
    ).transaction
    assert.equal(batch.state, 'broadcast')
    assert.deepEqual(
      batch.recipients.map((r) => [r.address, r.amountSats]),
      payees.map((a, i) => [a, 5_000 + 100 * i]),
    )
    assert.equal(batch.amountSats, 20 * 5_000 + 100 * 190)
    assert.deepEqual(
      batch.outputs.slice(0, 20).map((o) => [o.address, o.valueSats, o.change]),
      payees.map((a, i) => [a, 5_000 + 100 * i, false]),
    )
    ok(runBin(['devnet', 'mine', '--dir', dir], env))
    const shown = ok(runBin<TransactionDto>(['tx', 'show', batch.txid ?? '', '--node', url], env))
    assert.deepEqual([shown.id, shown.memo, shown.externalId], [batch.id, 'e2e payouts', 'batch-1'])
    assert.ok(shown.confirmations >= 1, `batch confirmations ${shown.confirmations}`)
    const paid = ok(runBin<DepositListDto>(['wallet', 'deposits', '--node', url, '--type', 'segwit', '--limit', '100'], env)).deposits.filter((d) => d.txid === batch.txid)
    assert.deepEqual(
      paid.map((d) => [d.address, d.valueSats, d.fromWallet, d.confirmations >= 1]).sort(),
      payees.map((a, i) => [a, 5_000 + 100 * i, true, true]).sort(),
      'each recipient paid exactly its amount, once, by the batch',
    )

    // Fee bump (BIP125): a send at 0.5 sat/vB (below 1: the devnet's chain relays from 0.1, as
    // Bitcoin Core 29.1+ does) is replaced by one at 5 sat/vB paying the same; once mined, the bump
    // is confirmed, the original never is (failed REPLACED, naming the bump), and the payee got the
    // payment once. A cancellation pays the coins back to the wallet instead.
    const [payee, unpaid] = payees
    const lowFee = ['--node', url, '--type', 'taproot', '--fee-rate', '0.5', '--timeout', '300']
    const slow = ok(runBin<SendResult>(['send', '--to', payee, '--amount', '10000', ...lowFee], env)).transaction
    assert.equal(slow.state, 'broadcast', 'the chain took it at 0.5 sat/vB')
    assert.equal(slow.feeRate, 0.5)
    assert.ok(slow.feeSats >= Math.ceil(0.5 * slow.vsize) && slow.feeSats < slow.vsize, `${slow.feeSats} sats for ${slow.vsize} vB: under 1 sat/vB`)
    const bumped = ok(runBin<ReplaceResult>(['tx', 'bump', slow.id, '--fee-rate', '5', '--node', url, '--timeout', '300'], env)).transaction
    assert.deepEqual([bumped.state, bumped.replacement], ['broadcast', { of: slow.id, kind: 'bump' }])
    assert.ok(bumped.feeRate >= 5 && bumped.feeSats > slow.feeSats)
    assert.deepEqual(bumped.inputs, slow.inputs)
    const toBe = (o: { address: string | null; valueSats: number; change: boolean }[]) => o.filter((x) => !x.change).map((x) => [x.address, x.valueSats])
    assert.deepEqual(toBe(bumped.outputs), toBe(slow.outputs))
    const cancelled = ok(runBin<SendResult>(['send', '--to', unpaid, '--amount', '10000', ...lowFee], env)).transaction
    const cancel = ok(runBin<ReplaceResult>(['tx', 'cancel', cancelled.id, '--node', url, '--timeout', '300'], env)).transaction
    assert.deepEqual([cancel.state, cancel.amountSats, cancel.outputs.length, cancel.outputs[0].change], ['broadcast', 0, 1, true])
    ok(runBin(['devnet', 'mine', '--dir', dir], env))
    const ended = (id: string) => {
      for (let i = 0; i < 120; i++) {
        const t = ok(runBin<TransactionDto>(['tx', 'show', id, '--node', url], env))
        if (t.state === 'failed') return t
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
      }
      assert.fail(`transaction ${id} did not end`)
    }
    for (const [orig, repl] of [
      [slow, bumped],
      [cancelled, cancel],
    ]) {
      const o = ended(orig.id)
      assert.deepEqual([o.error?.code, o.replacedBy], ['REPLACED', repl.id])
      assert.ok(ok(runBin<TransactionDto>(['tx', 'show', repl.id, '--node', url], env)).confirmations >= 1, `${repl.id} confirmed`)
    }
    const received = ok(runBin<DepositListDto>(['wallet', 'deposits', '--node', url, '--type', 'segwit', '--limit', '100'], env)).deposits
    assert.deepEqual(
      received.filter((d) => d.address === payee && d.txid !== batch.txid).map((d) => [d.valueSats, d.txid]),
      [[10_000, bumped.txid]],
      'the payee got the payment once, by the bump',
    )
    assert.deepEqual(
      received.filter((d) => d.address === unpaid && d.txid !== batch.txid),
      [],
      'the cancelled payment never arrived',
    )
    const back = ok(runBin<UtxoListDto>(['utxo', 'list', '--node', url, '--type', 'taproot'], env)).utxos.filter((u) => u.txid === cancel.txid)
    assert.deepEqual(
      back.map((u) => u.valueSats),
      [cancelled.inputs.reduce((n, i) => n + i.valueSats, 0) - cancel.feeSats],
      'the cancelled coins are back in the wallet, less the fee',
    )

    // Share refresh of both keys (`keys refresh`): every node gets new shares of the same keys;
    // the public keys, chain codes and addresses stay; the sends after it confirm (a SegWit one
    // here, the Taproot consolidation and sweep below).
    const activeKeys = () =>
      keysOn(url)
        .keys.filter((k) => k.status === 'active')
        .map((k) => [k.id, k.protocol, k.publicKey, k.chainCode, k.outputKey ?? null])
    const keysBefore = activeKeys()
    const addressesBefore = ok(runBin<AddressListDto>(['wallet', 'addresses', '--node', url, '--limit', '100'], env)).addresses.map((a) => a.address)
    for (const [id] of keysBefore) {
      const r = ok(runBin<KeyRefreshDto>(['keys', 'refresh', String(id), '--node', url, '--timeout', '600'], env))
      assert.deepEqual([r.keyId, r.state, r.committedBy, r.error], [id, 'done', [1, 2, 3, 4, 5], null])
    }
    assert.deepEqual(activeKeys(), keysBefore, 'the same keys, public keys and chain codes after the refresh')
    assert.deepEqual(
      ok(runBin<AddressListDto>(['wallet', 'addresses', '--node', url, '--limit', '100'], env)).addresses.map((a) => a.address),
      addressesBefore,
      'every address is the same',
    )
    const refreshed = ok(runBin<SendResult>(['send', '--node', url, '--to', dest, '--amount', '15000', '--type', 'segwit', '--fee-rate', '2', '--timeout', '300'], env)).transaction
    assert.equal(refreshed.state, 'broadcast', 'a SegWit send signs with the refreshed shares')
    ok(runBin(['devnet', 'mine', '--dir', dir], env))
    assert.ok(ok(runBin<TransactionDto>(['tx', 'show', refreshed.id, '--node', url], env)).confirmations >= 1, 'and confirms')

    // Coin control and consolidation: two named Taproot coins merged into one change output;
    // nothing leaves the wallet but the fee.
    ok(runBin(['devnet', 'mine', '--dir', dir], env))
    const pair = ok(runBin<UtxoListDto>(['utxo', 'list', '--node', url, '--type', 'taproot', '--status', 'spendable'], env)).utxos.slice(0, 2)
    assert.equal(pair.length, 2)
    const taprootBefore = ok(runBin<BalanceDto>(['wallet', 'balance', '--node', url], env)).wallets.find((w) => w.type === 'taproot')?.confirmedSats ?? 0
    const merged = ok(
      runBin<SendResult>(
        ['utxo', 'consolidate', '--node', url, '--type', 'taproot', '--fee-rate', '1', ...pair.flatMap((u) => ['--input', `${u.txid}:${u.vout}`]), '--timeout', '300'],
        env,
      ),
    ).transaction
    assert.equal(merged.consolidation, true)
    assert.deepEqual(merged.inputs.map((i) => `${i.txid}:${i.vout}`).sort(), pair.map((u) => `${u.txid}:${u.vout}`).sort())
    assert.deepEqual(
      merged.outputs.map((o) => [o.change, o.valueSats]),
      [[true, pair.reduce((n, u) => n + u.valueSats, 0) - merged.feeSats]],
    )
    ok(runBin(['devnet', 'mine', '--dir', dir], env))
    assert.equal(
      ok(runBin<BalanceDto>(['wallet', 'balance', '--node', url], env)).wallets.find((w) => w.type === 'taproot')?.confirmedSats,
      taprootBefore - merged.feeSats,
      'only the fee left the wallet',
    )

    // `send --amount max` empties the Taproot wallet into the SegWit one: every confirmed coin,
    // one output, no change, the fee out of it.
    const sweepTo = ok(runBin<AddressDto>(['wallet', 'address', '--node', url, '--type', 'segwit'], env)).address
    const taprootCoins = ok(runBin<UtxoListDto>(['utxo', 'list', '--node', url, '--type', 'taproot', '--status', 'spendable'], env)).utxos
    assert.ok(taprootCoins.length >= 1, `${taprootCoins.length} Taproot coins to sweep`)
    const sweep = ok(runBin<SendResult>(['send', '--node', url, '--to', sweepTo, '--amount', 'max', '--type', 'taproot', '--fee-rate', '2', '--timeout', '300'], env)).transaction
    assert.equal(sweep.state, 'broadcast')
    assert.deepEqual(
      sweep.outputs.map((o) => [o.address, o.change]),
      [[sweepTo, false]],
    )
    assert.deepEqual(sweep.inputs.map((i) => `${i.txid}:${i.vout}`).sort(), taprootCoins.map((u) => `${u.txid}:${u.vout}`).sort())
    assert.equal(
      sweep.amountSats + sweep.feeSats,
      taprootCoins.reduce((n, u) => n + u.valueSats, 0),
      'every Taproot coin, less the fee, to one address',
    )
    ok(runBin(['devnet', 'mine', '--dir', dir], env))
    assert.equal(ok(runBin<BalanceDto>(['wallet', 'balance', '--node', url], env)).wallets.find((w) => w.type === 'taproot')?.confirmedSats, 0, 'the Taproot wallet is empty')

    const down = ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', dir], env))
    assert.deepEqual(down.busyPorts, [])
    for (const pid of seenPids) assert.ok(!isAlive(pid), `pid ${pid} still alive after devnet down`)
  }),
)
