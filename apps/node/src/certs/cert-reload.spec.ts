import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { NodeIdentityService } from '../byzantine/identity.service'
import type { AppConfig } from '../config/config'
import type { EngineRepository } from '../engine/engine.repository'
import { MetricsService } from '../metrics/metrics.service'
import { CertificateRefusedError, CertReloadService } from './cert-reload.service'

const native = require('@tw/native') as typeof import('@tw/native')

describe('CertReloadService.checkAtStart: a node does not start with a certificate its peers would refuse', () => {
  let dir: string
  let cluster: string
  let foreign: string

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tw-certs-'))
    cluster = path.join(dir, 'cluster')
    foreign = path.join(dir, 'foreign')
    native.generateClusterCerts(cluster, 3)
    native.generateClusterCerts(foreign, 3)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function service(nodeId: number, certDir: string, certNode = nodeId): { svc: CertReloadService; metrics: MetricsService } {
    const config = {
      nodeId,
      threshold: 2,
      certReloadIntervalS: 3600,
      tls: { caCertPath: path.join(cluster, 'ca.crt'), nodeCertPath: path.join(certDir, `node-${certNode}.crt`), nodeKeyPath: path.join(certDir, `node-${certNode}.key`) },
    } as AppConfig
    const metrics = new MetricsService(config)
    return { svc: new CertReloadService(config, {} as EngineRepository, {} as NodeIdentityService, metrics), metrics }
  }

  function refused(fn: () => void, why: RegExp): void {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof CertificateRefusedError, String(err))
      assert.equal(err.code, 'CERTIFICATE_REFUSED')
      assert.match(err.message, why)
      assert.doesNotMatch(err.message, /PRIVATE KEY|BEGIN/, 'no key or certificate material in the message')
      return true
    })
  }

  it('passes a certificate of the cluster CA for this node and reports its expiry', async () => {
    const { svc, metrics } = service(2, cluster)
    svc.checkAtStart()
    const expiry = (await metrics.registry.getSingleMetric('mpc_certificate_expiry_timestamp_seconds')!.get()).values[0]!.value
    assert.ok(expiry > Date.now() / 1000, `expiry ${expiry}`)
  })

  it('refuses a certificate of another CA, naming the file', () => {
    const { svc } = service(2, foreign)
    refused(() => svc.checkAtStart(), new RegExp(`${path.join(foreign, 'node-2.crt').replace(/[/.]/g, '\\$&')} refused`))
  })

  it("refuses another node's certificate of the same CA", () => {
    const { svc } = service(2, cluster, 3)
    refused(() => svc.checkAtStart(), /node-3\.crt refused/)
  })

  it('refuses when the certificate or key file is missing', () => {
    const { svc } = service(2, path.join(dir, 'nowhere'))
    refused(() => svc.checkAtStart(), /cannot be read/)
  })

  it('refuses a file that is not a certificate', () => {
    const junk = path.join(dir, 'junk')
    mkdirSync(junk)
    writeFileSync(path.join(junk, 'node-2.crt'), 'not a certificate\n')
    copyFileSync(path.join(cluster, 'node-2.key'), path.join(junk, 'node-2.key'))
    const { svc } = service(2, junk)
    refused(() => svc.checkAtStart(), /refused/)
  })
})
