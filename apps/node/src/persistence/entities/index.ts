import { ApiTokenEntity } from './api-token.entity'
import { AuditLogEntity } from './audit-log.entity'
import { ByzantineViolationEntity } from './byzantine-violation.entity'
import { NodeStatusEntity } from './node-status.entity'
import { PresignatureUsageEntity } from './presignature-usage.entity'
import { TransactionEntity } from './transaction.entity'
import { VoteEntity } from './vote.entity'
import { VotingRoundEntity } from './voting-round.entity'
import { WebhookDeliveryEntity } from './webhook-delivery.entity'

export {
  ApiTokenEntity,
  AuditLogEntity,
  ByzantineViolationEntity,
  NodeStatusEntity,
  PresignatureUsageEntity,
  TransactionEntity,
  VoteEntity,
  VotingRoundEntity,
  WebhookDeliveryEntity,
}

export const ENTITIES = [
  ApiTokenEntity,
  AuditLogEntity,
  ByzantineViolationEntity,
  NodeStatusEntity,
  PresignatureUsageEntity,
  TransactionEntity,
  VoteEntity,
  VotingRoundEntity,
  WebhookDeliveryEntity,
]
