import { Global, Module } from '@nestjs/common'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { ClusterService } from './cluster.service'
import { MetricsService } from '../metrics/metrics.service'
import { EtcdRepository, etcdRequestCounter } from './etcd.repository'

/** Membership, leader election and bans over etcd. */
@Global()
@Module({
  providers: [
    {
      provide: EtcdRepository,
      inject: [APP_CONFIG, MetricsService],
      useFactory: (c: AppConfig, metrics: MetricsService) =>
        new EtcdRepository({
          endpoints: c.etcd.endpoints,
          leaseTtlSeconds: c.etcd.leaseTtlSeconds,
          tls: c.etcd.tls,
          onRequest: etcdRequestCounter(metrics.registry),
        }),
    },
    ClusterService,
  ],
  exports: [EtcdRepository, ClusterService],
})
export class ClusterModule {}
