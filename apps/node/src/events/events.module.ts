import { Module } from '@nestjs/common'
import { AuthModule } from '../auth/auth.module'
import { ByzantineModule } from '../byzantine/byzantine.module'
import { WalletModule } from '../wallet/wallet.module'
import { EventLogService } from './event-log.service'
import { EventsController, WebhooksController } from './events.controller'
import { WebhooksService } from './webhooks.service'

/** The event log (`/tw/events/`), its stream (`GET /api/v1/events`) and webhooks. */
@Module({
  imports: [WalletModule, AuthModule, ByzantineModule],
  providers: [EventLogService, WebhooksService],
  controllers: [EventsController, WebhooksController],
  exports: [EventLogService, WebhooksService],
})
export class EventsModule {}
