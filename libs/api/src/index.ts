/**
 * The REST contract of a threshold-wallet node: DTOs (`dto.ts`, owned by the node) and a typed
 * client (`client.ts`, used by the CLI).
 */
export * from './dto'
export * from './client'
export * from './evidence'
export * from './token'
export * from './webhook'
