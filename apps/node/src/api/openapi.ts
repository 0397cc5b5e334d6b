import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger'
import type {
  AddressInfoDto,
  ReplaceRequest,
  RecipientDto,
  RecipientRequest,
  AddressListDto,
  DepositDto,
  DepositListDto,
  QuoteDto,
  UtxoDto,
  UtxoListDto,
  UtxoStatus,
  AbandonDto,
  AbandonRequest,
  AddressDto,
  AddressRequest,
  BalanceDto,
  BitcoinNetwork,
  ClusterRecoverRequest,
  ClusterRecoveryDto,
  ClusterStatusDto,
  CreateKeyRequest,
  DescriptorsDto,
  ErrorBody,
  KeyDto,
  KeyListDto,
  KeyRefreshDto,
  KeyRefreshState,
  NodeStatusDto,
  PresignatureJobsDto,
  PresignatureRequest,
  PresignatureStatusDto,
  SendRequest,
  TransactionDto,
  TransactionListDto,
  RecoveredIndexDto,
  RecoveredKeyDto,
  RecoveredTxDto,
  TransactionStateDto,
  VoteDto,
  WalletType,
  ViolationDto,
  ViolationListDto,
  ViolationType,
  UnbanDto,
  DrillDto,
  DrillBehaviour,
} from '@tw/api'
import { DrillBehaviours, MAX_RECIPIENTS, UtxoStatuses } from '@tw/api'

// OpenAPI descriptions of the libs/api DTOs. The interfaces in libs/api are the contract;
// these classes only document it (`implements` keeps them in step).

export class ErrorDetailDoc {
  @ApiProperty({ example: 'VALIDATION_FAILED' }) code!: string
  @ApiProperty() message!: string
  @ApiPropertyOptional({ type: Object }) details?: unknown
}
export class ErrorDoc implements ErrorBody {
  @ApiProperty({ type: ErrorDetailDoc }) error!: ErrorDetailDoc
}

export class CreateKeyRequestDoc implements CreateKeyRequest {
  @ApiProperty({ enum: ['ecdsa', 'schnorr'] }) protocol!: 'ecdsa' | 'schnorr'
}

export class KeyDoc implements KeyDto {
  @ApiProperty({ example: 'schnorr-m3x1y2-a1b2c3d4e5' }) id!: string
  @ApiProperty({ enum: ['ecdsa', 'schnorr'] }) protocol!: 'ecdsa' | 'schnorr'
  @ApiProperty({ enum: ['pending', 'active', 'failed'] }) status!: 'pending' | 'active' | 'failed'
  @ApiProperty({ type: String, nullable: true, description: 'hex, 33-byte compressed master public key' }) publicKey!: string | null
  @ApiProperty({ type: String, nullable: true, description: 'hex, 32-byte BIP32 chain code' }) chainCode!: string | null
  @ApiPropertyOptional({ type: String, nullable: true, description: 'schnorr only: x-only BIP86 output key' }) outputKey?: string | null
  @ApiProperty({ type: [Number] }) reportedBy!: number[]
  @ApiProperty() createdAt!: string
  @ApiPropertyOptional({ type: String, nullable: true }) error?: string | null
}

export class KeyRefreshDoc implements KeyRefreshDto {
  @ApiProperty({ example: 'refresh-m3x1y2-a1b2c3d4e5' }) jobId!: string
  @ApiProperty({ example: 'schnorr-m3x1y2-a1b2c3d4e5' }) keyId!: string
  @ApiProperty({ enum: ['ecdsa', 'schnorr'] }) protocol!: 'ecdsa' | 'schnorr'
  @ApiProperty({
    enum: ['voting', 'running', 'committing', 'done', 'rejected', 'failed'],
    description:
      'voting: every node judges the job (the key still signs); done: every node signs with its new share; rejected: a node voted against it, nothing ran; failed: the key kept its shares',
  })
  state!: KeyRefreshState
  @ApiProperty({ type: [Number], description: 'nodes whose signed approval is in' }) approvedBy!: number[]
  @ApiProperty({ type: [Number], description: 'nodes whose signed success is in' }) reportedBy!: number[]
  @ApiProperty({ type: [Number], description: 'nodes whose new share is live' }) committedBy!: number[]
  @ApiProperty() requestedAt!: string
  @ApiProperty({ type: String, nullable: true }) error!: string | null
}

export class KeyListDoc implements KeyListDto {
  @ApiProperty({ type: [KeyDoc] }) keys!: KeyDoc[]
}

export class NodeStatusDoc implements NodeStatusDto {
  @ApiProperty() nodeId!: number
  @ApiProperty() up!: boolean
  @ApiProperty({ type: String, nullable: true }) apiUrl!: string | null
  @ApiProperty({ type: String, nullable: true }) quicAddr!: string | null
  @ApiProperty({ type: String, nullable: true }) lastSeen!: string | null
  @ApiProperty() banned!: boolean
  @ApiProperty({ required: false, description: 'Safe primes ready for aux info (the leader waits for all nodes)' }) primesReady?: boolean
}

export class EtcdMemberDoc {
  @ApiProperty() id!: string
  @ApiProperty() name!: string
  @ApiProperty({ type: [String] }) clientUrls!: string[]
}
export class EtcdStatusDoc {
  @ApiProperty({ type: [String] }) endpoints!: string[]
  @ApiProperty({ type: [EtcdMemberDoc] }) members!: EtcdMemberDoc[]
  @ApiProperty() healthy!: boolean
}
export class DatabaseStatusDoc {
  @ApiProperty() healthy!: boolean
}

export class ClusterStatusDoc implements ClusterStatusDto {
  @ApiProperty() nodeId!: number
  @ApiProperty() clusterSize!: number
  @ApiProperty() threshold!: number
  @ApiProperty({ type: Number, nullable: true }) leader!: number | null
  @ApiProperty({ type: String, nullable: true, description: 'fencing token: create revision of /tw/leader' }) leaderTerm!: string | null
  @ApiProperty({ type: [NodeStatusDoc] }) nodes!: NodeStatusDoc[]
  @ApiProperty() nodesUp!: number
  @ApiProperty({ type: EtcdStatusDoc }) etcd!: EtcdStatusDoc
  @ApiProperty({ type: DatabaseStatusDoc }) database!: DatabaseStatusDoc
  @ApiProperty({ type: [Number] }) bannedNodes!: number[]
}

const TX_STATES = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed', 'rejected', 'failed', 'expired']

export class ClusterRecoverRequestDoc implements ClusterRecoverRequest {
  @ApiPropertyOptional({ default: false, description: 'report what would be done and write nothing' }) dryRun?: boolean
}

export class RecoveredKeyDoc implements RecoveredKeyDto {
  @ApiProperty() keyId!: string
  @ApiProperty({ enum: ['ecdsa', 'schnorr'] }) protocol!: 'ecdsa' | 'schnorr'
  @ApiProperty({ type: String, nullable: true }) publicKey!: string | null
  @ApiProperty({ type: [Number], description: 'nodes whose signed statement says they hold a share with these public facts' }) claimedBy!: number[]
  @ApiProperty({ enum: ['present', 'registered', 'would_register', 'refused'] }) action!: RecoveredKeyDto['action']
  @ApiProperty({ type: String, nullable: true, description: 'why it is refused' }) reason!: string | null
}

export class RecoveredIndexDoc implements RecoveredIndexDto {
  @ApiProperty() keyId!: string
  @ApiProperty({ enum: ['segwit', 'taproot'] }) type!: WalletType
  @ApiProperty({ enum: ['receive', 'change'] }) chain!: 'receive' | 'change'
  @ApiProperty({ type: 'integer', description: 'next index etcd held before' }) before!: number
  @ApiProperty({ type: 'integer', description: 'next index after recovery (never lower)' }) after!: number
  @ApiProperty({ type: 'integer', nullable: true, description: 'last index the chain shows a transaction for' }) lastUsedOnChain!: number | null
  @ApiProperty({ type: 'integer', nullable: true, description: 'last index the history names (a send used it, or the audit log says it was handed out)' }) lastInHistory!:
    number | null
}

export class RecoveredTxDoc implements RecoveredTxDto {
  @ApiProperty() id!: string
  @ApiProperty({ type: String, nullable: true }) txid!: string | null
  @ApiProperty({ enum: TX_STATES }) from!: TransactionStateDto
  @ApiProperty({ enum: TX_STATES }) to!: TransactionStateDto
  @ApiProperty({ type: String, nullable: true, description: 'INPUTS_SPENT_ELSEWHERE or RECORD_LOST when it ends failed' }) code!: string | null
  @ApiProperty() message!: string
  @ApiProperty({ enum: ['resolved', 'would_resolve', 'unresolved'] }) action!: RecoveredTxDto['action']
}

export class ClusterRecoveryDoc implements ClusterRecoveryDto {
  @ApiProperty() dryRun!: boolean
  @ApiProperty() nodeId!: number
  @ApiProperty({ type: [RecoveredKeyDoc] }) keys!: RecoveredKeyDoc[]
  @ApiProperty({ type: [RecoveredIndexDoc] }) addresses!: RecoveredIndexDoc[]
  @ApiProperty({ type: 'integer', description: 'address labels put back from the audit log' }) labels!: number
  @ApiProperty({ type: [RecoveredTxDoc] }) transactions!: RecoveredTxDoc[]
  @ApiProperty({ type: [String], description: 'what recovery does not bring back' }) notRecovered!: string[]
}

export class AuditVerifyDoc {
  @ApiProperty() ok!: boolean
  @ApiProperty() checked!: number
  @ApiProperty({ type: String, nullable: true }) firstBrokenId!: string | null
  @ApiProperty({ type: String, nullable: true }) reason!: string | null
}

const WALLET_TYPES = ['segwit', 'taproot']
const NETWORKS = ['mainnet', 'testnet', 'testnet4', 'signet', 'regtest']

export class AddressRequestDoc implements AddressRequest {
  @ApiPropertyOptional({ enum: WALLET_TYPES, default: 'segwit' }) type?: WalletType
  @ApiPropertyOptional({ default: false, description: 'a change address (m/1/i) instead of a receive address (m/0/i)' }) change?: boolean
  @ApiPropertyOptional({ description: 'kept with the address (1..100 characters), e.g. a customer or invoice reference' }) label?: string
}

export class AddressDoc implements AddressDto {
  @ApiProperty({ example: 'bcrt1q...' }) address!: string
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty({ example: 'm/0/7' }) path!: string
  @ApiProperty() index!: number
  @ApiProperty() change!: boolean
  @ApiProperty({ enum: NETWORKS }) network!: BitcoinNetwork
  @ApiProperty({ type: String, nullable: true }) label!: string | null
}

export class AddressInfoDoc extends AddressDoc implements AddressInfoDto {
  @ApiProperty({ description: 'the chain has a payment to it (confirmed or in the mempool)' }) used!: boolean
  @ApiProperty() txCount!: number
  @ApiProperty({ description: 'satoshis ever paid to it (confirmed and mempool)' }) receivedSats!: number
}

export class AddressListDoc implements AddressListDto {
  @ApiProperty({ enum: NETWORKS }) network!: BitcoinNetwork
  @ApiProperty({ type: [AddressInfoDoc] }) addresses!: AddressInfoDoc[]
  @ApiProperty({ description: 'addresses handed out on the listed chain, before the filter and the limit' }) issued!: number
}

export class WalletBalanceDoc {
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty() confirmedSats!: number
  @ApiProperty() unconfirmedSats!: number
  @ApiProperty({ description: 'reserved by sends in flight' }) reservedSats!: number
  @ApiProperty() utxos!: number
}

export class BalanceDoc implements BalanceDto {
  @ApiProperty({ enum: NETWORKS }) network!: BitcoinNetwork
  @ApiProperty() tipHeight!: number
  @ApiProperty({ type: [WalletBalanceDoc] }) wallets!: WalletBalanceDoc[]
  @ApiProperty() confirmedSats!: number
  @ApiProperty() unconfirmedSats!: number
}

export class DescriptorDoc {
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty({ example: 'wpkh(tpub.../0/*)#abcdefgh' }) receive!: string
  @ApiProperty({ example: 'wpkh(tpub.../1/*)#abcdefgh' }) change!: string
}

export class DescriptorsDoc implements DescriptorsDto {
  @ApiProperty({ enum: NETWORKS }) network!: BitcoinNetwork
  @ApiProperty({ type: [DescriptorDoc] }) descriptors!: DescriptorDoc[]
}

export class RecipientRequestDoc implements RecipientRequest {
  @ApiProperty({ example: 'bcrt1q...' }) to!: string
  @ApiProperty({ type: 'integer', example: 25000, description: 'positive integer number of satoshis' }) amountSats!: number
}

export class RecipientDoc implements RecipientDto {
  @ApiProperty() address!: string
  @ApiProperty({ type: 'integer', description: 'satoshis paid (after any fee taken out of it)' }) amountSats!: number
}

export class OutpointDoc {
  @ApiProperty({ example: 'a1'.repeat(32) }) txid!: string
  @ApiProperty({ type: 'integer', minimum: 0 }) vout!: number
}

export class SendRequestDoc implements SendRequest {
  @ApiPropertyOptional({ example: 'bcrt1q...', description: 'one payment: its address (with amountSats); not with recipients' }) to?: string
  @ApiPropertyOptional({
    oneOf: [
      { type: 'integer', minimum: 1 },
      { type: 'string', enum: ['max'] },
    ],
    example: 50000,
    description: 'positive integer number of satoshis, or "max": every spendable coin, no change, the fee out of the payment',
  })
  amountSats?: number | 'max'
  @ApiPropertyOptional({
    type: [RecipientRequestDoc],
    description: `a batch: one output per recipient in this order (1..${MAX_RECIPIENTS}, each address once); not with to/amountSats`,
  })
  recipients?: RecipientRequestDoc[]
  @ApiPropertyOptional({ description: 'take the fee out of the payments (split evenly) instead of adding it', default: false }) subtractFeeFromAmount?: boolean
  @ApiPropertyOptional({ maxLength: 500, description: 'a note kept with the record (part of what the nodes vote on)' }) memo?: string
  @ApiPropertyOptional({ maxLength: 200, description: "the caller's reference (invoice or payout id), kept with the record" }) externalId?: string
  @ApiPropertyOptional({ type: [OutpointDoc], description: 'coin control: spend exactly these coins (confirmed, not reserved), change as needed' }) inputs?: OutpointDoc[]
  @ApiPropertyOptional({
    description: 'a consolidation: no payment, the coins (inputs, or every spendable one, smallest first) to one change output; not with to/amountSats/recipients',
  })
  consolidate?: boolean
  @ApiPropertyOptional({ description: "sat/vB; default: the chain's 6-block estimate" }) feeRate?: number
  @ApiPropertyOptional({ enum: WALLET_TYPES, default: 'segwit' }) type?: WalletType
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1008, default: 6, description: "confirmation target for the chain's fee estimate; not with feeRate" })
  targetBlocks?: number
  @ApiPropertyOptional({ description: 'the most sat/vB this send may pay: a higher rate is refused (FEE_TOO_HIGH), nothing reserved' }) maxFeeRate?: number
}

export class BumpRequestDoc implements ReplaceRequest {
  @ApiProperty({ example: 5, description: 'sat/vB: above the replaced rate; the fee is also at least the replaced fee plus 1 sat/vB of the replacement' }) feeRate!: number
}

export class CancelRequestDoc implements ReplaceRequest {
  @ApiPropertyOptional({ example: 5, description: 'sat/vB; default 1 sat/vB above the replaced rate' }) feeRate?: number
}

export class ReplacementDoc {
  @ApiProperty({ description: 'the transaction it replaces' }) of!: string
  @ApiProperty({ enum: ['bump', 'cancel'] }) kind!: 'bump' | 'cancel'
}

export class VoteDoc implements VoteDto {
  @ApiProperty() nodeId!: number
  @ApiProperty() approve!: boolean
  @ApiProperty({ type: String, nullable: true }) reason!: string | null
  @ApiProperty() signatureValid!: boolean
  @ApiProperty() votedAt!: string
}

export class TxInputDoc {
  @ApiProperty() txid!: string
  @ApiProperty() vout!: number
  @ApiProperty() valueSats!: number
  @ApiProperty({ example: 'm/0/3' }) path!: string
}

export class TxOutputDoc {
  @ApiProperty({ type: String, nullable: true }) address!: string | null
  @ApiProperty() valueSats!: number
  @ApiProperty() change!: boolean
}

export class TxErrorDoc {
  @ApiProperty() code!: string
  @ApiProperty() message!: string
}

export class TxHistoryDoc {
  @ApiProperty({ enum: TX_STATES }) state!: TransactionStateDto
  @ApiProperty() at!: string
}

export class TransactionDoc implements TransactionDto {
  @ApiProperty() id!: string
  @ApiProperty({ type: String, nullable: true, description: 'the X-Request-Id of the request that made it; every log line about it carries it' }) requestId!: string | null
  @ApiProperty({ enum: TX_STATES }) state!: TransactionStateDto
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty({ description: 'the first (or only) recipient' }) to!: string
  @ApiProperty({ description: 'what the payments add up to (the fee not included)' }) amountSats!: number
  @ApiProperty({ type: [RecipientDoc], description: 'every payment, in output order' }) recipients!: RecipientDoc[]
  @ApiProperty({ type: String, nullable: true }) memo!: string | null
  @ApiProperty({ type: String, nullable: true }) externalId!: string | null
  @ApiProperty({ type: ReplacementDoc, nullable: true, description: 'a fee bump or cancellation: the transaction it replaces' }) replacement!: ReplacementDoc | null
  @ApiProperty({ type: String, nullable: true, description: 'on a send that ended failed REPLACED: its replacement' }) replacedBy!: string | null
  @ApiProperty({ description: 'a consolidation: no payment, the coins to one change output of the wallet' }) consolidation!: boolean
  @ApiProperty() feeSats!: number
  @ApiProperty() feeRate!: number
  @ApiProperty() vsize!: number
  @ApiProperty({ type: [TxInputDoc] }) inputs!: TxInputDoc[]
  @ApiProperty({ type: [TxOutputDoc] }) outputs!: TxOutputDoc[]
  @ApiProperty({ type: String, nullable: true }) txid!: string | null
  @ApiProperty({ type: String, nullable: true, description: 'signed raw transaction' }) hex!: string | null
  @ApiProperty({ description: 'the unsigned proposal as a BIP174 PSBT (base64)' }) psbt!: string
  @ApiProperty({ type: [Number], nullable: true }) signers!: number[] | null
  @ApiProperty({ type: String, nullable: true, description: 'presignature | full | frost' }) signingMode!: string | null
  @ApiProperty({ type: [VoteDoc] }) votes!: VoteDoc[]
  @ApiProperty() confirmations!: number
  @ApiProperty({ type: TxErrorDoc, nullable: true }) error!: TxErrorDoc | null
  @ApiProperty() createdAt!: string
  @ApiProperty() updatedAt!: string
  @ApiProperty({ type: [TxHistoryDoc] }) history!: TxHistoryDoc[]
}

export class TransactionListDoc implements TransactionListDto {
  @ApiProperty({ type: [TransactionDoc] }) transactions!: TransactionDoc[]
  @ApiProperty({ type: String, nullable: true, description: 'pass as cursor for the next page; null on the last page' }) nextCursor!: string | null
}

export class QuoteOutputDoc {
  @ApiProperty() address!: string
  @ApiProperty() valueSats!: number
  @ApiProperty() change!: boolean
}

export class QuoteDoc implements QuoteDto {
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty() to!: string
  @ApiProperty({ description: 'what the payments add up to (after the fee when it comes out of them)' }) amountSats!: number
  @ApiProperty({ type: [RecipientDoc] }) recipients!: RecipientDoc[]
  @ApiProperty() feeSats!: number
  @ApiProperty({ description: "sat/vB: the request's, or the chain's estimate within the policy's bounds" }) feeRate!: number
  @ApiProperty() vsize!: number
  @ApiProperty({ type: [TxInputDoc] }) inputs!: TxInputDoc[]
  @ApiProperty({ type: [QuoteOutputDoc], description: 'the payment first, then the change (to the next change address, taken only by a send)' })
  outputs!: QuoteOutputDoc[]
  @ApiProperty({ description: '0 when the change would be dust and goes to the fee' }) changeSats!: number
  @ApiProperty({ enum: ['presignature', 'full', 'frost'], description: 'the expected signing path' }) signingMode!: 'presignature' | 'full' | 'frost'
  @ApiProperty({ description: "the chain's tip height (the send's nLockTime)" }) tipHeight!: number
}

export class UtxoDoc implements UtxoDto {
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty() txid!: string
  @ApiProperty() vout!: number
  @ApiProperty() valueSats!: number
  @ApiProperty() address!: string
  @ApiProperty({ example: 'm/0/7' }) path!: string
  @ApiProperty({ enum: UtxoStatuses }) status!: UtxoStatus
  @ApiProperty({ description: '0 while in the mempool' }) confirmations!: number
  @ApiProperty({ type: String, nullable: true, description: 'id of the send that reserved it; null when free' }) reservedBy!: string | null
  @ApiProperty({ description: 'SegWit: a ready presignature for the preferred signer set covers it' }) presigned!: boolean
}

export class UtxoTotalsDoc {
  @ApiProperty() spendableSats!: number
  @ApiProperty() reservedSats!: number
  @ApiProperty() unconfirmedSats!: number
}

export class UtxoListDoc implements UtxoListDto {
  @ApiProperty({ enum: NETWORKS }) network!: BitcoinNetwork
  @ApiProperty() tipHeight!: number
  @ApiProperty({ type: [UtxoDoc] }) utxos!: UtxoDoc[]
  @ApiProperty({ type: UtxoTotalsDoc }) totals!: UtxoTotalsDoc
}

export class DepositDoc implements DepositDto {
  @ApiProperty({ enum: WALLET_TYPES }) type!: WalletType
  @ApiProperty() keyId!: string
  @ApiProperty() txid!: string
  @ApiProperty() vout!: number
  @ApiProperty() valueSats!: number
  @ApiProperty() address!: string
  @ApiProperty({ example: 'm/0/7' }) path!: string
  @ApiProperty({ description: '0 while in the mempool' }) confirmations!: number
  @ApiProperty({ type: Number, nullable: true }) blockHeight!: number | null
  @ApiProperty({ type: String, nullable: true, description: 'block time (ISO 8601); null in the mempool' }) blockTime!: string | null
  @ApiProperty({ description: "the paying transaction spends one of the wallet's own coins (a send to its own address)" }) fromWallet!: boolean
}

export class DepositListDoc implements DepositListDto {
  @ApiProperty({ enum: NETWORKS }) network!: BitcoinNetwork
  @ApiProperty() tipHeight!: number
  @ApiProperty({ type: [DepositDoc] }) deposits!: DepositDoc[]
  @ApiProperty({ description: 'receive addresses asked (every one handed out so far)' }) addressesScanned!: number
}

export class PresignatureRequestDoc implements PresignatureRequest {
  @ApiProperty({ minimum: 1, maximum: 100 }) count!: number
  @ApiPropertyOptional({ type: [Number], description: 'signer set (default: the preferred set)' }) signers?: number[]
}

export class PresignatureJobDoc {
  @ApiProperty() id!: string
  @ApiProperty() keyId!: string
  @ApiProperty({ example: 'm/0/0' }) path!: string
  @ApiProperty({ type: [Number] }) signers!: number[]
}

export class PresignatureJobsDoc implements PresignatureJobsDto {
  @ApiProperty({ type: [PresignatureJobDoc] }) queued!: PresignatureJobDoc[]
}

export class CoverageDoc {
  @ApiProperty() utxos!: number
  @ApiProperty() covered!: number
  @ApiProperty() ratio!: number
}

export class PresignatureStatusDoc implements PresignatureStatusDto {
  @ApiProperty({ type: String, nullable: true }) keyId!: string | null
  @ApiProperty({ type: [Number] }) preferredSigners!: number[]
  @ApiProperty({ type: Object, example: { '1,2,3,4': 3 } }) ready!: Record<string, number>
  @ApiProperty() generating!: number
  @ApiProperty() used!: number
  @ApiProperty() burned!: number
  @ApiProperty({ type: CoverageDoc }) coverage!: CoverageDoc
}

const VIOLATION_TYPES = ['double_vote', 'invalid_signature', 'minority_attack', 'protocol_violation', 'invalid_decision']

export class ViolationDoc implements ViolationDto {
  @ApiProperty() id!: string
  @ApiProperty({ enum: VIOLATION_TYPES }) type!: ViolationType
  @ApiProperty() offender!: number
  @ApiProperty({ type: String, nullable: true }) sessionId!: string | null
  @ApiProperty({ enum: ['reported', 'proven', 'cleared'] }) status!: 'reported' | 'proven' | 'cleared'
  @ApiProperty({ type: [Number], description: 'nodes whose signed accusation verified' }) accusers!: number[]
  @ApiProperty({ type: Object }) evidence!: Record<string, unknown>
  @ApiProperty() reportedAt!: string
  @ApiProperty({ type: String, nullable: true }) provenAt!: string | null
}

export class BanDoc {
  @ApiProperty() nodeId!: number
  @ApiProperty() reason!: string
  @ApiProperty() bannedAt!: string
  @ApiProperty({ type: [String] }) violations!: string[]
}

export class ViolationListDoc implements ViolationListDto {
  @ApiProperty({ type: [ViolationDoc] }) violations!: ViolationDoc[]
  @ApiProperty({ type: [BanDoc] }) bans!: BanDoc[]
  @ApiProperty() banThreshold!: number
  @ApiProperty() minAccusers!: number
}

export class AbandonRequestDoc implements AbandonRequest {
  @ApiProperty({
    minLength: 1,
    maxLength: 500,
    description: 'why the coins may be released (audited)',
    example: 'refused as mandatory-script-verify-flag-failed; checked with the signers',
  })
  reason!: string
}

export class AbandonDoc implements AbandonDto {
  @ApiProperty() id!: string
  @ApiProperty({ description: 'the txid of every signed version of the transaction' }) txid!: string
  @ApiProperty({ type: [String], description: 'outpoints (txid:vout) whose reservation was released' }) released!: string[]
  @ApiProperty() abandonedAt!: string
  @ApiProperty({ description: 'the signed transaction stays valid while its inputs are unspent: it can still be broadcast' }) warning!: string
}

export class UnbanDoc implements UnbanDto {
  @ApiProperty() nodeId!: number
  @ApiProperty() wasBanned!: boolean
  @ApiProperty() unbannedAt!: string
}

export class DrillDoc implements DrillDto {
  @ApiProperty() nodeId!: number
  @ApiProperty() enabled!: boolean
  @ApiProperty({ enum: DrillBehaviours, isArray: true }) behaviours!: DrillBehaviour[]
}

export class DrillRequestDoc {
  @ApiProperty({ enum: DrillBehaviours, isArray: true }) behaviours!: DrillBehaviour[]
}
