import { Inject, Injectable, Logger } from '@nestjs/common'
import { Gauge } from 'prom-client'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { errorMessage } from '../common/async'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import { NodeIdentityService } from '../byzantine/identity.service'
import { MetricsService } from '../metrics/metrics.service'

/**
 * Certificate renewal without a restart: watches this node's certificate and key files
 * (`TW_NODE_CERT`, `TW_NODE_KEY`) and, when they change, checks the new certificate against
 * the cluster CA and this node id, then hands it to the engine (new QUIC connections use it at
 * once) and to the node identity (votes and accusations are signed with the new key and the
 * new certificate is republished). A bad certificate is refused with a log line saying why,
 * and the node keeps the one it has. `mpc_certificate_expiry_timestamp_seconds` tells when
 * the one in use expires.
 */
@Injectable()
export class CertReloadService {
  private readonly log = new Logger('Certificates')
  private timer: NodeJS.Timeout | null = null
  private fingerprint = ''
  private readonly expiry: Gauge

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly engine: EngineRepository,
    private readonly identity: NodeIdentityService,
    metrics: MetricsService,
  ) {
    this.expiry = new Gauge({
      name: 'mpc_certificate_expiry_timestamp_seconds',
      help: "Unix time at which this node's certificate in use expires",
      registers: [metrics.registry],
    })
  }

  /**
   * Checks the certificate this node starts with (before the transport uses it). A node whose
   * own certificate cannot be read, was not issued by the cluster CA, names another node or has
   * expired does not start ({@link CertificateRefusedError}): every peer would refuse its
   * connections, so it could never vote or sign, yet it would report ready.
   */
  checkAtStart(): void {
    const files = this.read()
    if (!files) throw new CertificateRefusedError(`${this.config.tls.nodeCertPath} or ${this.config.tls.nodeKeyPath} cannot be read`)
    const refused = this.check(files.cert, false)
    if (refused !== null) throw new CertificateRefusedError(`${this.config.tls.nodeCertPath} refused: ${refused}`)
    this.fingerprint = files.fingerprint
  }

  /** Watches the files for a renewal (after {@link checkAtStart} and the engine's start). */
  start(): void {
    this.timer = setInterval(() => void this.poll(), this.config.certReloadIntervalS * 1000)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Looks at the files once; reloads if they changed. Returns whether a new certificate took effect. */
  async poll(): Promise<boolean> {
    const files = this.read()
    if (!files || files.fingerprint === this.fingerprint) return false
    this.fingerprint = files.fingerprint // a refused pair is reported once, not every poll
    if (this.check(files.cert, true) !== null) return false
    try {
      this.engine.reloadCertificate(files.cert, files.key)
    } catch (err) {
      this.log.error(`renewed certificate refused by the transport: ${errorMessage(err)}; keeping the current one`)
      return false
    }
    await this.identity.reload()
    this.log.log('certificate renewed without a restart: new connections use it, votes are signed with the new key')
    return true
  }

  private read(): { cert: string; key: string; fingerprint: string } | null {
    try {
      const cert = readFileSync(this.config.tls.nodeCertPath, 'utf8')
      const key = readFileSync(this.config.tls.nodeKeyPath, 'utf8')
      return { cert, key, fingerprint: createHash('sha256').update(cert).update('\0').update(key).digest('hex') }
    } catch (err) {
      this.log.warn(`reading the certificate files: ${errorMessage(err)}`)
      return null
    }
  }

  /** Checks `cert` against the CA and this node id: null when it passes, else why not (a renewal is also logged). */
  private check(cert: string, renewal: boolean): string | null {
    const native = require('@tw/native') as typeof import('@tw/native')
    try {
      const info = native.verifyNodeCertificate(readFileSync(this.config.tls.caCertPath, 'utf8'), cert, this.config.nodeId)
      this.expiry.set(Number(info.notAfter))
      const days = (Number(info.notAfter) - Date.now() / 1000) / 86_400
      if (days < 14) this.log.warn(`certificate expires in ${days.toFixed(1)} days: renew it (threshold-wallet certs renew)`)
      return null
    } catch (err) {
      if (renewal) this.log.error(`renewed certificate ${this.config.tls.nodeCertPath} refused: ${errorMessage(err)}; keeping the current one`)
      return errorMessage(err)
    }
  }
}

/** This node's own certificate is unusable at start (the message names the file and why; never key material). */
export class CertificateRefusedError extends Error {
  readonly code = 'CERTIFICATE_REFUSED'
  constructor(detail: string) {
    super(`this node's certificate: ${detail}. Renew it from the cluster CA (threshold-wallet certs renew) or point TW_NODE_CERT / TW_NODE_KEY / TW_CA_CERT at the right files`)
    this.name = 'CertificateRefusedError'
  }
}
