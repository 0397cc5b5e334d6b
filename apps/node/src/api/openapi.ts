import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger'
import type { ClusterStatusDto, CreateKeyRequest, ErrorBody, KeyDto, KeyListDto, NodeStatusDto } from '@tw/api'

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

export class AuditVerifyDoc {
  @ApiProperty() ok!: boolean
  @ApiProperty() checked!: number
  @ApiProperty({ type: String, nullable: true }) firstBrokenId!: string | null
  @ApiProperty({ type: String, nullable: true }) reason!: string | null
}
