import { InitialSchema1732435200000 } from './1732435200000-InitialSchema'

/** Every migration, oldest first. Add new ones at the end. */
export const MIGRATIONS = [InitialSchema1732435200000]
