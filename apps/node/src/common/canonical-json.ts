/**
 * Canonical JSON (object keys sorted recursively, no whitespace, `undefined` members dropped):
 * what every node signature and the audit hash chain cover. One implementation, in @tw/api,
 * shared with the CLI's offline evidence check so both sign and verify the same bytes.
 *
 * @example canonicalJson({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}'
 */
export { canonicalJson } from '@tw/api'
