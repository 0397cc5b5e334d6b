import assert from 'node:assert/strict'
import { test } from 'node:test'
import { renderPairs, renderTable } from './table'

test('renderTable aligns columns and prints empty cells as -', () => {
  const text = renderTable(
    [
      { id: 1, url: 'http://a', ok: true },
      { id: 22, url: null, ok: false },
    ],
    [
      { header: 'ID', get: (r) => r.id },
      { header: 'URL', get: (r) => r.url },
      { header: 'OK', get: (r) => r.ok },
    ],
  )
  assert.deepEqual(text.split('\n'), ['ID  URL       OK', '──  ────────  ───', '1   http://a  yes', '22  -         no'])
})

test('renderPairs aligns values', () => {
  assert.equal(
    renderPairs([
      ['A', 1],
      ['Long', null],
    ]),
    'A:    1\nLong: -',
  )
})
