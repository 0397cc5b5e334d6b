import { Inject, Injectable, Logger } from '@nestjs/common'
import { createPublicKey, sign as signWithKey, verify as verifySignature, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { errorMessage } from '../common/async'
import { BoundedMap } from '../common/bounded'
import { canonicalJson } from '../common/canonical-json'
import { EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'

/** `/tw/certs/<nodeId>`: a node's certificate, published at start so others can check what it signs. */
export const certKey = (nodeId: number) => `/tw/certs/${nodeId}`

/**
 * The node's identity for signed statements (votes, accusations): its TLS key signs the
 * canonical JSON of a payload; anyone verifies against the signer's certificate, which is
 * published in etcd and accepted only if it chains to the cluster CA for that node id. So a
 * statement is transferable evidence: it proves what that node said, whoever relays it.
 */
@Injectable()
export class NodeIdentityService {
  private readonly log = new Logger('Identity')
  private readonly keys = new Map<number, KeyObject>()
  /** Verdicts already computed (statements are re-read many times while a spend runs). */
  private readonly verified = new BoundedMap<string, boolean>(10_000)
  private keyPem: string | null = null

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
  ) {}

  /** Publishes this node's certificate (idempotent). */
  async start(): Promise<void> {
    this.keyPem = readFileSync(this.config.tls.nodeKeyPath, 'utf8')
    const certPem = readFileSync(this.config.tls.nodeCertPath, 'utf8')
    await this.etcd.put(certKey(this.config.nodeId), { nodeId: this.config.nodeId, certPem }).catch((err) => this.log.warn(`publishing certificate: ${errorMessage(err)}`))
    // A renewed certificate replaces the cached key (and the verdicts made with it).
    await this.etcd
      .watchPrefix('/tw/certs/', (key) => {
        const id = Number(key.slice('/tw/certs/'.length))
        this.keys.delete(id)
        this.verified.clear()
      })
      .catch(() => undefined)
  }

  /** After a certificate renewal: sign with the new key and republish the new certificate. */
  async reload(): Promise<void> {
    this.keyPem = readFileSync(this.config.tls.nodeKeyPath, 'utf8')
    const certPem = readFileSync(this.config.tls.nodeCertPath, 'utf8')
    this.keys.delete(this.config.nodeId)
    this.verified.clear()
    await this.etcd.put(certKey(this.config.nodeId), { nodeId: this.config.nodeId, certPem })
  }

  /** base64 signature of canonicalJson(payload) with this node's key. */
  sign(payload: unknown): string {
    if (!this.keyPem) this.keyPem = readFileSync(this.config.tls.nodeKeyPath, 'utf8')
    return signWithKey('sha256', Buffer.from(canonicalJson(payload)), this.keyPem).toString('base64')
  }

  /** Whether `signature` over `payload` is by node `nodeId` (certificate checked against the CA). */
  async verify(nodeId: number, payload: unknown, signature: string): Promise<boolean> {
    const message = canonicalJson(payload)
    const memo = `${nodeId}\n${signature}\n${message}`
    const known = this.verified.get(memo)
    if (known !== undefined) return known
    const key = await this.keyOf(nodeId)
    if (!key) return false
    let ok = false
    try {
      ok = verifySignature('sha256', Buffer.from(message), key, Buffer.from(signature, 'base64'))
    } catch {
      ok = false
    }
    this.verified.set(memo, ok)
    return ok
  }

  private async keyOf(nodeId: number): Promise<KeyObject | null> {
    const cached = this.keys.get(nodeId)
    if (cached) return cached
    const rec = (await this.etcd.get<{ certPem: string }>(certKey(nodeId)))?.value
    if (!rec) return null
    const native = await import('@tw/native')
    try {
      native.verifyNodeCertificate(readFileSync(this.config.tls.caCertPath, 'utf8'), rec.certPem, nodeId)
    } catch (err) {
      this.log.warn(`certificate published for node ${nodeId} does not verify: ${errorMessage(err)}`)
      return null
    }
    const key = createPublicKey(rec.certPem)
    this.keys.set(nodeId, key)
    return key
  }
}
