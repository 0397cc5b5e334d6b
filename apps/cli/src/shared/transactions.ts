import type { TransactionDto, TransactionStateDto } from '@tw/api'
import { renderPairs, renderTable } from './table'

/** The states a send walks through, in order (`confirmed` only once mined). */
export const TX_FLOW: readonly TransactionStateDto[] = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed']
/** States a transaction never leaves, other than success. */
export const TX_FAILED_STATES: readonly TransactionStateDto[] = ['rejected', 'failed', 'expired']

/** The summary of a transaction as `key: value` pairs. */
export function transactionPairs(tx: TransactionDto): [string, string | number | boolean | null][] {
  return [
    ['Transaction', tx.id],
    ['State', tx.state + (tx.error ? ` (${tx.error.code}: ${tx.error.message})` : '')],
    ['Type', `${tx.type} (key ${tx.keyId})`],
    ['To', tx.to],
    ['Amount', `${tx.amountSats} sats`],
    ['Fee', `${tx.feeSats} sats (${tx.feeRate} sat/vB, ${tx.vsize} vB)`],
    ['Txid', tx.txid],
    ['Confirmations', tx.confirmations],
    ['Signers', tx.signers?.length ? tx.signers.join(', ') : null],
    ['Signing mode', tx.signingMode],
    ['Created', tx.createdAt],
    ['Updated', tx.updatedAt],
  ]
}

/** Pairs, then inputs, outputs, votes and the state history. */
export function renderTransaction(tx: TransactionDto): string {
  const parts = [renderPairs(transactionPairs(tx))]
  parts.push(
    'Inputs:\n' +
      (tx.inputs.length
        ? renderTable(tx.inputs, [
            { header: 'OUTPOINT', get: (i) => `${i.txid}:${i.vout}` },
            { header: 'VALUE (sat)', get: (i) => i.valueSats },
            { header: 'PATH', get: (i) => i.path },
          ])
        : '(none)'),
  )
  parts.push(
    'Outputs:\n' +
      (tx.outputs.length
        ? renderTable(tx.outputs, [
            { header: '#', get: (o) => tx.outputs.indexOf(o) },
            { header: 'ADDRESS', get: (o) => o.address },
            { header: 'VALUE (sat)', get: (o) => o.valueSats },
            { header: 'CHANGE', get: (o) => o.change },
          ])
        : '(none)'),
  )
  parts.push(
    'Votes:\n' +
      (tx.votes.length
        ? renderTable(tx.votes, [
            { header: 'NODE', get: (v) => v.nodeId },
            { header: 'VOTE', get: (v) => (v.approve ? 'approve' : 'reject') },
            { header: 'SIGNATURE', get: (v) => (v.signatureValid ? 'valid' : 'INVALID') },
            { header: 'REASON', get: (v) => v.reason },
            { header: 'AT', get: (v) => v.votedAt },
          ])
        : '(none yet)'),
  )
  if (tx.history?.length) parts.push('History:\n' + tx.history.map((h) => `${h.at}  ${h.state}`).join('\n'))
  return parts.join('\n\n')
}
