import { InitialSchema1732435200000 } from './1732435200000-InitialSchema'
import { ApiTokens1764000000000 } from './1764000000000-ApiTokens'
import { InvalidDecision1765000000000 } from './1765000000000-InvalidDecision'
import { TransactionHistory1766000000000 } from './1766000000000-TransactionHistory'
import { TransactionTxid1767000000000 } from './1767000000000-TransactionTxid'
import { CancellationAmount1768000000000 } from './1768000000000-CancellationAmount'
import { WebhookDeliveries1769000000000 } from './1769000000000-WebhookDeliveries'

/** Every migration, oldest first. Add new ones at the end. */
export const MIGRATIONS = [
  InitialSchema1732435200000,
  ApiTokens1764000000000,
  InvalidDecision1765000000000,
  TransactionHistory1766000000000,
  TransactionTxid1767000000000,
  CancellationAmount1768000000000,
  WebhookDeliveries1769000000000,
]
