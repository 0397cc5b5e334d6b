import { ConsoleLogger, type LogLevel } from '@nestjs/common'
import { currentRequestId } from './request-context'

/**
 * The node's logger: Nest's console logger, as text or as one JSON object per line
 * (`TW_LOG_FORMAT=json`, for log pipelines). A JSON line carries the node id and, while the
 * work belongs to an API request or to a transaction, its `requestId`; a text line ends with
 * `[req <id>]` then.
 */
export class NodeLogger extends ConsoleLogger {
  constructor(
    private readonly nodeId: number,
    o: { levels: LogLevel[]; json: boolean },
  ) {
    super({ logLevels: o.levels, json: o.json, colors: o.json ? false : undefined })
  }

  protected override getJsonLogObject(message: unknown, options: Parameters<ConsoleLogger['getJsonLogObject']>[1]): ReturnType<ConsoleLogger['getJsonLogObject']> {
    const requestId = currentRequestId()
    return { ...super.getJsonLogObject(message, options), node: this.nodeId, ...(requestId ? { requestId } : {}) }
  }

  protected override stringifyMessage(message: unknown, logLevel: LogLevel): string {
    const text = super.stringifyMessage(message, logLevel)
    const requestId = currentRequestId()
    return requestId ? `${text} [req ${requestId}]` : text
  }
}
