import { Global, Module } from '@nestjs/common'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { ClusterService } from './cluster.service'
import { EtcdRepository } from './etcd.repository'

/** Membership, leader election and bans over etcd. */
@Global()
@Module({
  providers: [
    {
      provide: EtcdRepository,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => new EtcdRepository({ endpoints: c.etcd.endpoints, leaseTtlSeconds: c.etcd.leaseTtlSeconds, tls: c.etcd.tls }),
    },
    ClusterService,
  ],
  exports: [EtcdRepository, ClusterService],
})
export class ClusterModule {}
