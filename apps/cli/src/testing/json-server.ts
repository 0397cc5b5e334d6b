/**
 * A small in-process JSON HTTP server on 127.0.0.1 (a free port), the plumbing under the
 * command specs' fake nodes: every request's body is read and parsed as JSON, recorded in
 * `requests`, and handed to `handler`, whose `{ status, body }` is sent back as JSON (or
 * `'drop'`: the connection is destroyed unanswered). A handler that throws is answered 500.
 */
import { createServer, IncomingHttpHeaders } from 'node:http'
import { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** The parsed JSON body; undefined when the request had none. */
  body: unknown
}

export interface JsonReply {
  status: number
  body: unknown
}

/** `{ status, body }`: a handler's answer, spelled like a call. */
export function reply(status: number, body: unknown): JsonReply {
  return { status, body }
}

export type JsonHandler = (req: RecordedRequest) => JsonReply | 'drop' | Promise<JsonReply | 'drop'>

export interface JsonServer {
  /** `http://127.0.0.1:<port>`. */
  url: string
  /** Every request so far, in order of arrival (clear it with `requests.length = 0`). */
  readonly requests: RecordedRequest[]
  /** Stops listening and ends open connections. */
  close(): Promise<void>
}

export async function startJsonServer(handler: JsonHandler): Promise<JsonServer> {
  const requests: RecordedRequest[] = []
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += String(c)))
    req.on('end', () => {
      const send = ({ status, body }: JsonReply): void => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      Promise.resolve()
        .then(() => {
          const r: RecordedRequest = { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body: raw ? (JSON.parse(raw) as unknown) : undefined }
          requests.push(r)
          return handler(r)
        })
        .then(
          (answer) => (answer === 'drop' ? req.socket.destroy() : send(answer)),
          (e: unknown) => send({ status: 500, body: { error: { code: 'FAKE_SERVER_ERROR', message: String(e) } } }),
        )
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
