import { Module } from '@nestjs/common'
import { KeysModule } from '../keys/keys.module'
import { AuditController } from './audit.controller'
import { ClusterController } from './cluster.controller'
import { KeysController } from './keys.controller'

/** The REST controllers of `/api/v1` (HTTP only: services decide). */
@Module({ imports: [KeysModule], controllers: [KeysController, ClusterController, AuditController] })
export class ApiModule {}
