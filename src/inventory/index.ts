// The inventory module's public surface: load the inventory, render values, select gateways.
export { inputProblemOf, loadInventory, DEFAULT_REMOTE_DIR, GATEWAY_NAME_RE, hostProblem } from './load.js'
export { canonicalValues, keyPath, renderValues, valuesKeyWarnings, valuesReferences, VENDOR_PLACEHOLDERS } from './values.js'
export type { ValuesReference } from './values.js'
export { unknownKeyText, type UnknownValuesKey } from './vendor-keys.js'
export { firstNames, selectGateways } from './selector.js'
