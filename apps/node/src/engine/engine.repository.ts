import { Inject, Injectable, Logger } from '@nestjs/common'
import type { ClusterNode, EngineError, PeerProbe, TransportEvent } from '@tw/native'
import { readFileSync } from 'node:fs'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { DependencyUnavailableError } from '../common/errors'

/** Public facts of a key share, as hex. */
export interface KeyShareInfo {
  publicKey: string
  chainCode: string
  outputKey?: string
}

/**
 * The one door to the native engine (`@tw/native`): QUIC transport, keystore and protocols.
 * Converts Buffers to hex and nothing else; decisions live in the services.
 */
@Injectable()
export class EngineRepository {
  private readonly log = new Logger('Engine')
  private node: ClusterNode | null = null
  /** Keys mid-refresh, with when they were paused: no session signs or presigns with them (see {@link pauseKey}). */
  private readonly paused = new Map<string, number>()

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Binds the QUIC endpoint and opens the keystore. */
  async start(): Promise<void> {
    const c = this.config
    if (c.insecureTestPrimes) {
      this.log.warn('*** INSECURE: aux info uses the PUBLIC shipped test primes (TW_INSECURE_TEST_PRIMES=true). Tests and devnet only. ***')
    }
    // Loaded here, not at import, so config errors are reported before the addon loads.
    const native = await import('@tw/native')
    this.node = await native.startNode({
      nodeId: c.nodeId,
      n: c.clusterSize,
      t: c.threshold,
      listen: c.quic.listen,
      peers: c.quic.peers,
      caCertPem: readFileSync(c.tls.caCertPath, 'utf8'),
      certPem: readFileSync(c.tls.nodeCertPath, 'utf8'),
      keyPem: readFileSync(c.tls.nodeKeyPath, 'utf8'),
      keystoreDir: c.keystore.dir,
      ...(c.keystore.passphrase !== undefined ? { keystorePassphrase: c.keystore.passphrase } : { keystoreKeyFile: c.keystore.keyFile }),
      sessionTimeoutMs: c.sessionTimeoutMs,
      allowInsecureTestPrimes: c.insecureTestPrimes,
    })
    const ids = this.node.keyIds()
    this.log.log(`engine up on ${this.node.localAddr()}; keystore has ${ids.ecdsa.length} ECDSA and ${ids.frost.length} FROST key(s)`)
  }

  get isStarted(): boolean {
    return this.node !== null
  }

  get localAddr(): string | null {
    return this.node?.localAddr() ?? null
  }

  keyIds(): { ecdsa: string[]; frost: string[] } {
    return this.engine().keyIds()
  }

  hasAuxInfo(auxId: string): boolean {
    return this.engine().hasAuxInfo(auxId)
  }

  primePoolSize(): number {
    return this.engine().primePoolSize()
  }

  generatePrimes(count: number): Promise<number> {
    return this.engine().generatePrimes(count)
  }

  ecdsaAuxInfo(sessionId: string, auxId: string): Promise<void> {
    return this.engine().ecdsaAuxInfo(sessionId, auxId)
  }

  async ecdsaKeygen(sessionId: string, keyId: string, auxId: string): Promise<KeyShareInfo> {
    const k = await this.engine().ecdsaKeygen(sessionId, keyId, auxId)
    return { publicKey: k.publicKey.toString('hex'), chainCode: k.chainCode.toString('hex') }
  }

  async frostDkg(sessionId: string, keyId: string): Promise<KeyShareInfo> {
    const k = await this.engine().frostDkg(sessionId, keyId)
    return { publicKey: k.publicKey.toString('hex'), chainCode: k.chainCode.toString('hex'), outputKey: k.outputKey.toString('hex') }
  }

  /** The sealed share's public facts, or null if this keystore does not hold `keyId`. */
  keyInfo(protocol: 'ecdsa' | 'schnorr', keyId: string): KeyShareInfo | null {
    const node = this.engine()
    const ids = node.keyIds()
    if (protocol === 'ecdsa') {
      if (!ids.ecdsa.includes(keyId)) return null
      const k = node.ecdsaKeyInfo(keyId)
      return { publicKey: k.publicKey.toString('hex'), chainCode: k.chainCode.toString('hex') }
    }
    if (!ids.frost.includes(keyId)) return null
    const k = node.frostKeyInfo(keyId)
    return { publicKey: k.publicKey.toString('hex'), chainCode: k.chainCode.toString('hex'), outputKey: k.outputKey.toString('hex') }
  }

  /**
   * Runs a proactive share refresh of `keyId` with all nodes (an ECDSA key's new share takes
   * aux info `auxId`, generated for the refresh). The new share is pending until
   * {@link commitRefresh}. Resolves to its fingerprint (hex), which every node must report alike.
   */
  async refreshKey(sessionId: string, keyId: string, auxId: string | null): Promise<string> {
    return (await this.engine().refreshKey(sessionId, keyId, auxId ?? undefined)).toString('hex')
  }

  /** Makes the pending refreshed share live if its fingerprint is `fingerprint`; idempotent. */
  commitRefresh(keyId: string, fingerprint: string): void {
    this.engine().commitRefresh(keyId, Buffer.from(fingerprint, 'hex'))
  }

  /** Deletes the pending refreshed share of `keyId` (a refresh not every node finished). */
  discardRefresh(keyId: string): boolean {
    return this.engine().discardRefresh(keyId)
  }

  /**
   * Stops every new signing and presignature session with `keyId` (refused with code
   * `KEY_REFRESHING`, which blames nobody) while a share refresh runs: nodes switch to their new
   * shares one by one, and a session mixing old and new shares would fail and name honest nodes.
   * Sessions already running keep the share they loaded.
   */
  pauseKey(keyId: string): void {
    if (!this.paused.has(keyId)) this.paused.set(keyId, Date.now())
  }

  resumeKey(keyId: string): void {
    this.paused.delete(keyId)
  }

  isPaused(keyId: string): boolean {
    return this.paused.has(keyId)
  }

  /** Seconds the longest-paused key has been paused (0 when none). */
  pausedForS(now = Date.now()): number {
    let oldest = now
    for (const since of this.paused.values()) oldest = Math.min(oldest, since)
    return (now - oldest) / 1000
  }

  private usable(keyId: string): ClusterNode {
    if (this.paused.has(keyId)) throw Object.assign(new Error(`key ${keyId} is being refreshed: signing resumes when every node has its new share`), { code: 'KEY_REFRESHING' })
    return this.engine()
  }

  /** Compressed ECDSA child public key at a non-hardened path (hex). */
  ecdsaPublicKey(keyId: string, path: number[]): string {
    return this.engine().ecdsaPublicKey(keyId, path).toString('hex')
  }

  /** x-only BIP86 output key of the FROST key's child at `path` (hex). */
  frostOutputKey(keyId: string, path: number[]): string {
    return this.engine().frostOutputKey(keyId, path).toString('hex')
  }

  /** Runs one presignature session with `signers`, bound to `path`; sealed as `presignatureId`. */
  async ecdsaPresign(presignatureId: string, keyId: string, signers: number[], path: number[]): Promise<void> {
    return this.usable(keyId).ecdsaPresign(presignatureId, keyId, signers, path)
  }

  /** Presignature ids sealed on this node (not yet consumed). */
  presignatures(): string[] {
    return this.engine().presignatures()
  }

  /** One-round signing of a BIP143 preimage with a presignature (consumed). Returns DER hex. */
  async ecdsaSignWithPresignature(sessionId: string, keyId: string, presignatureId: string, preimage: Uint8Array): Promise<string> {
    const sig = await this.usable(keyId).ecdsaSignWithPresignature(sessionId, keyId, presignatureId, Buffer.from(preimage))
    return sig.der.toString('hex')
  }

  /** Full threshold ECDSA signing of a BIP143 preimage. Returns DER hex. */
  async ecdsaSign(sessionId: string, keyId: string, signers: number[], path: number[], preimage: Uint8Array): Promise<string> {
    const sig = await this.usable(keyId).ecdsaSign(sessionId, keyId, signers, path, Buffer.from(preimage))
    return sig.der.toString('hex')
  }

  /** FROST signing of a BIP341 SigMsg with the child key at `path`. Returns the 64-byte signature hex. */
  async frostSign(sessionId: string, keyId: string, signers: number[], path: number[], sigMsg: Uint8Array): Promise<string> {
    const sig = await this.usable(keyId).frostSign(sessionId, keyId, signers, path, Buffer.from(sigMsg))
    return sig.toString('hex')
  }

  /** Certificate renewal: the transport checks the certificate (CA, node id, validity) and uses it for new connections. */
  reloadCertificate(certPem: string, keyPem: string): void {
    this.engine().reloadCertificate(certPem, keyPem)
  }

  /** Byzantine drill: the engine-level misbehaviours (the drill service decides; never production). */
  setFaults(f: { corruptShare: boolean; replay: boolean; wrongSession: boolean }): void {
    this.engine().setFaults({
      corruptEcdsaPartial: f.corruptShare,
      corruptFrostShare: f.corruptShare,
      replayFrames: f.replay,
      wrongSessionFrames: f.wrongSession,
    })
  }

  /** Frames the transport refused since the last call (replays, wrong sessions, impersonation...). */
  drainEvents(): TransportEvent[] {
    return this.node ? this.node.drainEvents() : []
  }

  probePeers(): Promise<PeerProbe[]> {
    return this.engine().probePeers()
  }

  ban(nodeId: number): Promise<void> {
    return this.engine().ban(nodeId)
  }

  unban(nodeId: number): void {
    this.engine().unban(nodeId)
  }

  shutdown(): void {
    const node = this.node
    this.node = null
    node?.shutdown()
  }

  private engine(): ClusterNode {
    if (!this.node) throw new DependencyUnavailableError('engine not started', { dependency: 'engine' })
    return this.node
  }
}

/** The engine's stable error code, if `err` is an engine error. */
export function engineErrorCode(err: unknown): string | undefined {
  return (err as Partial<EngineError> | null)?.code
}
