import { Module } from '@nestjs/common'
import { ByzantineModule } from '../byzantine/byzantine.module'
import { CertReloadService } from './cert-reload.service'

/** Certificate renewal without a restart. */
@Module({ imports: [ByzantineModule], providers: [CertReloadService], exports: [CertReloadService] })
export class CertsModule {}
