// The configuration store's public surface. Import from here, not from the files behind it.

export { Store, type StoreOptions, type VmWithToken, type OperatorWithToken } from './store.js';
export { ADMIN_OPERATOR, type Operator } from './operators.js';
export type { Vm } from './vms.js';
export type { Pool } from './pools.js';
export type { AuditEntry, AuditInput, AuditQuery } from './audit.js';
export type { Gpu, UsageDelta, VmUsage, VmUsagePeriod } from './usage.js';
export { DEFAULT_POOL } from './pools.js';
export { DB_FILE, BUSY_TIMEOUT_MS } from './open.js';
export { lockStateDir, readLockHolder, StateDirInUse, LOCK_FILE, HOLDER_FILE, type LockHolder, type StateLock } from './lock.js';
export { SCHEMA_VERSION } from './migrations.js';
export { hashToken, looksLikeToken, looksLikeOperatorToken, TOKEN_PREFIX, OPERATOR_TOKEN_PREFIX } from './tokens.js';
export {
  NAME_RE,
  PRIORITIES,
  WEIGHT_MIN,
  WEIGHT_MAX,
  WEIGHT_DEFAULT,
  VGPUS_MAX,
  MEMORY_QUOTA_MIN,
  toMaxHoldMs,
  type Priority,
  type AddVmInput,
  type VmPatch,
  type AddPoolInput,
  type PoolPatch,
} from './validate.js';
