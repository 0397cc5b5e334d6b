import { InitialSchema1732435200000 } from './1732435200000-InitialSchema'
import { ApiTokens1764000000000 } from './1764000000000-ApiTokens'

/** Every migration, oldest first. Add new ones at the end. */
export const MIGRATIONS = [InitialSchema1732435200000, ApiTokens1764000000000]
