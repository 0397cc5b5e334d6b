import { Module, type DynamicModule } from '@nestjs/common'
import { ApiModule } from './api/api.module'
import { CertsModule } from './certs/certs.module'
import { AuditModule } from './audit/audit.module'
import { AuthModule } from './auth/auth.module'
import { ClusterModule } from './cluster/cluster.module'
import type { AppConfig } from './config/config'
import { ConfigModule } from './config/config.module'
import { EngineModule } from './engine/engine.module'
import { EventsModule } from './events/events.module'
import { HealthModule } from './health/health.module'
import { MetricsModule } from './metrics/metrics.module'
import { PersistenceModule } from './persistence/persistence.module'

/** The node: config → engine, persistence, audit, cluster, keys → health, metrics, auth, api, events. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        EngineModule,
        PersistenceModule,
        AuditModule,
        MetricsModule,
        ClusterModule,
        HealthModule,
        AuthModule,
        ApiModule,
        EventsModule,
        CertsModule,
      ],
    }
  }
}
