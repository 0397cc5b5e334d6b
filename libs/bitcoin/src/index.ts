export { BitcoinError, type BitcoinErrorCode } from './errors'
export type { Network, KeyType } from './network'
export {
  deriveEcdsaChild,
  deriveTaprootOutputKey,
  deriveTaprootInternalKey,
  taprootTweak,
  segwitAddress,
  taprootAddress,
  parseAddress,
  scriptType,
  encodeExtendedPublicKey,
  fingerprint,
  pathString,
  descriptorChecksum,
  walletDescriptors,
  type AddressType,
} from './keys'
export { parseAmountSats, INPUT_VBYTES, INPUT_WEIGHT, MAX_MONEY, outputVbytes, estimateVsize, dustThreshold } from './fees'
export { selectCoins, leastSelectionFee, LONG_TERM_FEE_RATE, type Utxo, type SelectionRequest, type Selection } from './coinselect'
export {
  buildUnsignedTransaction,
  segwitSighashPreimage,
  taprootSigMsg,
  taprootSighash,
  inputSignatureValid,
  attachWitnesses,
  toPsbt,
  transactionId,
  decodeTransaction,
  SEQUENCE_RBF,
  SEQUENCE_NO_RBF,
  type TxInput,
} from './tx'
