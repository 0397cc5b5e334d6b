// Types of the hand-written wrapper (index.js): the generated binding's API, plus the error
// shape every engine error has.
export * from './binding'

/** Stable error codes (`err.code`). */
export type EngineErrorCode =
  | 'BAD_ARGUMENT'
  | 'TIMEOUT'
  | 'PEER_MISBEHAVED'
  | 'KEYSTORE_TAMPERED'
  | 'KEYSTORE_LOCKED'
  | 'NOT_FOUND'
  | 'PRESIGNATURE_USED'
  | 'TRANSPORT'
  | 'PROTOCOL_FAILED'
  | 'INVALID_SIGNATURE'
  | 'IO'
  | 'INTERNAL'

/** Every error thrown or rejected by the engine. */
export interface EngineError extends Error {
  code: EngineErrorCode
  /** Node ids blamed (PEER_MISBEHAVED) or silent (TIMEOUT); empty otherwise. */
  culprits: number[]
}
