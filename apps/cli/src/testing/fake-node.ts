/**
 * A stand-in for `apps/node/dist/main.js` in the CLI's own tests (TW_NODE_ENTRY): it reads
 * the same environment, checks that every variable the devnet must pass is there, and
 * serves the REST contract from `@tw/api` with keys shared through a file next to the
 * keystores. No cryptography: it exercises the CLI's process and API handling only.
 */
import { createHash, randomUUID } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs'
import { createServer, IncomingMessage, ServerResponse } from 'node:http'
import { dirname, join } from 'node:path'
import type { ClusterStatusDto, KeyDto, KeyListDto } from '@tw/api'

const REQUIRED = [
  'TW_NODE_ID',
  'TW_CLUSTER_SIZE',
  'TW_THRESHOLD',
  'TW_API_HOST',
  'TW_API_PORT',
  'TW_QUIC_LISTEN',
  'TW_QUIC_PEERS',
  'TW_CA_CERT',
  'TW_NODE_CERT',
  'TW_NODE_KEY',
  'TW_KEYSTORE_DIR',
  'TW_KEYSTORE_PASSPHRASE',
  'TW_ETCD_ENDPOINTS',
  'TW_DATABASE_URL',
  'TW_ENV',
  'TW_INSECURE_TEST_PRIMES',
  'TW_LOG_LEVEL',
  'TW_CHAIN_URL',
  'TW_NETWORK',
  'TW_BOOTSTRAP_ADMIN_TOKEN_SHA256',
]
const missing = REQUIRED.filter((k) => !process.env[k])
if (missing.length) {
  console.error(`fake-node: missing ${missing.join(', ')}`)
  process.exit(78)
}
for (const f of ['TW_CA_CERT', 'TW_NODE_CERT', 'TW_NODE_KEY']) {
  if (!existsSync(process.env[f] ?? '')) {
    console.error(`fake-node: ${f} does not exist`)
    process.exit(78)
  }
}
const id = Number(process.env.TW_NODE_ID)
const keysFile = join(dirname(process.env.TW_KEYSTORE_DIR ?? '.'), 'fake-keys.json')

function readKeys(): KeyDto[] {
  return existsSync(keysFile) ? (JSON.parse(readFileSync(keysFile, 'utf8')) as KeyDto[]) : []
}
function writeKeys(keys: KeyDto[]): void {
  const tmp = `${keysFile}.${process.pid}`
  writeFileSync(tmp, JSON.stringify(keys))
  renameSync(tmp, keysFile)
}
/** A key "finishes" one second after creation, with a public key derived from its id. */
function view(k: KeyDto): KeyDto {
  if (k.status !== 'pending' || Date.now() - Date.parse(k.createdAt) < 1000) return k
  const h = createHash('sha256').update(k.id).digest('hex')
  return { ...k, status: 'active', publicKey: '02' + h, chainCode: h, outputKey: k.protocol === 'schnorr' ? h : undefined, reportedBy: [1, 2, 3, 4, 5] }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

async function body(req: IncomingMessage): Promise<unknown> {
  let s = ''
  for await (const chunk of req) s += String(chunk)
  return s ? JSON.parse(s) : undefined
}

const server = createServer((req, res) => {
  void (async () => {
    const url = req.url ?? '/'
    if (url.startsWith('/health')) return send(res, 200, { status: 'ok', info: { fake: { status: 'up' } }, error: {}, details: {} })
    if (url === '/api/v1/keys' && req.method === 'GET') return send(res, 200, { keys: readKeys().map(view) } satisfies KeyListDto)
    if (url === '/api/v1/keys' && req.method === 'POST') {
      const b = (await body(req)) as { protocol?: string } | undefined
      if (b?.protocol !== 'ecdsa' && b?.protocol !== 'schnorr') {
        return send(res, 400, { error: { code: 'VALIDATION_FAILED', message: 'protocol must be ecdsa or schnorr' } })
      }
      const key: KeyDto = { id: randomUUID(), protocol: b.protocol, status: 'pending', publicKey: null, chainCode: null, reportedBy: [], createdAt: new Date().toISOString() }
      writeKeys([...readKeys(), key])
      return send(res, 202, key)
    }
    if (url === '/api/v1/cluster/status') {
      const endpoints = (process.env.TW_ETCD_ENDPOINTS ?? '').split(',')
      const s: ClusterStatusDto = {
        nodeId: id,
        clusterSize: 5,
        threshold: 4,
        leader: 1,
        leaderTerm: '1',
        nodes: [1, 2, 3, 4, 5].map((n) => ({ nodeId: n, up: true, apiUrl: null, quicAddr: null, lastSeen: null, banned: false })),
        nodesUp: 5,
        etcd: { endpoints, members: endpoints.map((e, i) => ({ id: String(i), name: `etcd-${i + 1}`, clientUrls: [e] })), healthy: true },
        database: { healthy: true },
        bannedNodes: [],
      }
      return send(res, 200, s)
    }
    return send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url}` } })
  })().catch((err: Error) => send(res, 500, { error: { code: 'INTERNAL', message: err.message } }))
})
server.listen(Number(process.env.TW_API_PORT), process.env.TW_API_HOST, () => console.log(`fake-node ${id} listening`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
