#!/usr/bin/env node
// Five OS processes, each loading the addon and listening on its own loopback UDP port, connect
// over QUIC + mutual TLS and run: CGGMP24 aux info (shipped test primes) + keygen, one
// presignature + sign, one full sign, FROST DKG + sign. Prints exactly one JSON object on
// stdout; progress goes to stderr.
//
//   node native/addon/examples/five-party.mjs
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = fileURLToPath(new URL('.', import.meta.url))
const N = 5

if (process.argv[2] === '--worker') {
  await worker()
} else {
  await coordinator()
}

async function freeUdpPort() {
  const sock = dgram.createSocket('udp4')
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve))
  const { port } = sock.address()
  await new Promise((resolve) => sock.close(resolve))
  return port
}

function log(msg) {
  process.stderr.write(`[five-party] ${msg}\n`)
}

async function coordinator() {
  const native = require(join(here, '..', 'index.js'))
  const dir = mkdtempSync(join(tmpdir(), 'tw-five-party-'))
  const children = []
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', cleanup)
  try {
    native.generateClusterCerts(join(dir, 'certs'), N)
    const ports = []
    for (let i = 0; i < N; i++) ports.push(await freeUdpPort())
    const addrs = Object.fromEntries(ports.map((p, i) => [String(i + 1), `127.0.0.1:${p}`]))

    let nextReq = 0
    const pending = new Map()
    const call = (child, op, ...args) =>
      new Promise((resolve, reject) => {
        const id = nextReq++
        pending.set(id, { resolve, reject })
        child.send({ id, op, args })
      })
    for (let id = 1; id <= N; id++) {
      const child = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      child.on('message', (m) => {
        const p = pending.get(m.id)
        if (!p) return
        pending.delete(m.id)
        if (m.error) {
          const e = new Error(`node ${id}: ${m.error.message}`)
          e.code = m.error.code
          e.culprits = m.error.culprits
          p.reject(e)
        } else p.resolve(m.result)
      })
      child.on('exit', (code) => {
        for (const p of pending.values()) p.reject(new Error(`node ${id} exited with ${code}`))
      })
      children.push(child)
    }
    const peersOf = (id) => Object.fromEntries(Object.entries(addrs).filter(([k]) => k !== String(id)))
    await Promise.all(
      children.map((c, i) =>
        call(c, 'start', {
          nodeId: i + 1,
          listen: addrs[String(i + 1)],
          peers: peersOf(i + 1),
          caCertPem: readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8'),
          certPem: readFileSync(join(dir, 'certs', `node-${i + 1}.crt`), 'utf8'),
          keyPem: readFileSync(join(dir, 'certs', `node-${i + 1}.key`), 'utf8'),
          keystoreDir: join(dir, `keystore-${i + 1}`),
          keystorePassphrase: `five-party-example-${i + 1}`,
          allowInsecureTestPrimes: true,
        }),
      ),
    )
    log('5 nodes up; running aux info (test primes)')
    const all = (op, ...args) => Promise.all(children.map((c) => call(c, op, ...args)))
    const signers = [1, 2, 3, 4]
    const some = (op, ...args) => Promise.all(signers.map((id) => call(children[id - 1], op, ...args)))
    const same = (results, what) => {
      const first = JSON.stringify(results[0])
      if (!results.every((r) => JSON.stringify(r) === first)) throw new Error(`nodes disagree on ${what}`)
      return results[0]
    }

    await all('ecdsaAuxInfo', 'aux-1', 'aux-1')
    log('aux info done; ECDSA keygen')
    const key = same(await all('ecdsaKeygen', 'keygen-1', 'ecdsa-1', 'aux-1'), 'the ECDSA public key')
    log('ECDSA keygen done; presigning for signers 1,2,3,4')
    await some('ecdsaPresign', 'presign-1', 'ecdsa-1', signers, [])
    const preimage = randomBytes(200).toString('hex')
    log('presignature ready; signing with it')
    const fast = same(await some('ecdsaSignWithPresignature', 'sign-presig-1', 'ecdsa-1', 'presign-1', preimage), 'the presignature signature')
    log('full signing (no presignature) with signers 2,3,4,5')
    const fullSigners = [2, 3, 4, 5]
    const full = same(await Promise.all(fullSigners.map((id) => call(children[id - 1], 'ecdsaSign', 'sign-full-1', 'ecdsa-1', fullSigners, [], preimage))), 'the full signature')
    log('FROST DKG')
    const frost = same(await all('frostDkg', 'dkg-1', 'frost-1'), 'the FROST key')
    const sigMsg = randomBytes(120).toString('hex')
    const frostSigners = [1, 3, 4, 5]
    const schnorrSig = same(
      await Promise.all(frostSigners.map((id) => call(children[id - 1], 'frostSign', 'frost-sign-1', 'frost-1', frostSigners, [], sigMsg))),
      'the FROST signature',
    )
    const result = {
      ecdsa: {
        publicKey: key.publicKey,
        preimage,
        digest: native.sha256d(Buffer.from(preimage, 'hex')).toString('hex'),
        signatures: [fast.compact, full.compact],
      },
      schnorr: {
        outputKey: frost.outputKey,
        message: native.taprootSighash(Buffer.from(sigMsg, 'hex')).toString('hex'),
        signature: schnorrSig,
      },
    }
    process.stdout.write(JSON.stringify(result) + '\n')
    log('done')
  } catch (err) {
    log(`failed: ${err.code ?? ''} ${err.message}`)
    process.exitCode = 1
  } finally {
    for (const c of children) c.kill('SIGTERM')
  }
}

function hexify(v) {
  if (Buffer.isBuffer(v)) return v.toString('hex')
  if (Array.isArray(v)) return v.map(hexify)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, hexify(x)]))
  return v
}

async function worker() {
  const native = require(join(here, '..', 'index.js'))
  let node
  const ops = {
    start: async (opts) => {
      node = await native.startNode(opts)
      return node.nodeId
    },
    ecdsaAuxInfo: (s, a) => node.ecdsaAuxInfo(s, a),
    ecdsaKeygen: (s, k, a) => node.ecdsaKeygen(s, k, a),
    ecdsaPresign: (s, k, signers, path) => node.ecdsaPresign(s, k, signers, path),
    ecdsaSignWithPresignature: (s, k, p, pre) => node.ecdsaSignWithPresignature(s, k, p, Buffer.from(pre, 'hex')),
    ecdsaSign: (s, k, signers, path, pre) => node.ecdsaSign(s, k, signers, path, Buffer.from(pre, 'hex')),
    frostDkg: (s, k) => node.frostDkg(s, k),
    frostSign: (s, k, signers, path, msg) => node.frostSign(s, k, signers, path, Buffer.from(msg, 'hex')),
  }
  process.on('message', async ({ id, op, args }) => {
    try {
      const result = await ops[op](...args)
      process.send({ id, result: hexify(result) })
    } catch (err) {
      process.send({ id, error: { message: err.message, code: err.code, culprits: err.culprits } })
    }
  })
  process.on('disconnect', () => process.exit(0))
}
