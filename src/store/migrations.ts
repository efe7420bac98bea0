// Versioned schema migrations. Each migration runs once, in order, inside one IMMEDIATE
// transaction together with its row in schema_migrations, so a CLI and a mediator opening the
// same fresh database at the same moment cannot both apply it. Released migrations are never
// edited: a change of schema is a new entry at the end.

import type { Database } from 'better-sqlite3';
import { VgpuError } from '../common/errors.js';

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE pools (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      );
      -- A GPU belongs to at most one pool. The default pool lists none: it holds every GPU that
      -- no other pool names.
      CREATE TABLE pool_gpus (
        pool_id     INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
        gpu_uuid    TEXT NOT NULL UNIQUE,
        PRIMARY KEY (pool_id, gpu_uuid)
      );
      -- GPUs the mediator has seen, kept so that pools and accounts can name GPUs that are absent now.
      CREATE TABLE gpus (
        uuid          TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        backend       TEXT NOT NULL CHECK (backend IN ('cuda', 'softgpu')),
        total_memory  INTEGER NOT NULL CHECK (total_memory >= 0),
        pci_bus_id    TEXT,
        first_seen    TEXT NOT NULL,
        last_seen     TEXT NOT NULL
      );
      CREATE TABLE vms (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        -- sha256 of the token, hex; the token itself is shown once and never stored
        token_hash    TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
        pool_id       INTEGER NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,
        priority      TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('high', 'medium', 'low')),
        weight        INTEGER NOT NULL DEFAULT 100 CHECK (weight BETWEEN 1 AND 10000),
        memory_quota  INTEGER CHECK (memory_quota IS NULL OR memory_quota > 0),
        vgpus         INTEGER NOT NULL DEFAULT 1 CHECK (vgpus BETWEEN 1 AND 16),
        pci_bus_id    TEXT,
        notes         TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        target      TEXT NOT NULL,
        details     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
      );
      CREATE INDEX audit_log_target ON audit_log(target);
      -- Running totals per VM; the mediator adds to them as sessions do work.
      CREATE TABLE vm_usage (
        vm_id           INTEGER PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,
        device_time_ns  INTEGER NOT NULL DEFAULT 0,
        bytes_h2d       INTEGER NOT NULL DEFAULT 0,
        bytes_d2h       INTEGER NOT NULL DEFAULT 0,
        calls           INTEGER NOT NULL DEFAULT 0,
        peak_memory     INTEGER NOT NULL DEFAULT 0,
        updated_at      TEXT NOT NULL
      );
      INSERT INTO pools (name, created_at, updated_at)
        VALUES ('default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    `,
  },
  {
    version: 2,
    name: 'timestamped usage samples',
    sql: `
      -- What each VM did in one flush interval of the mediator (a few seconds), so that usage can
      -- be asked for since a time. vm_usage keeps the all-time totals.
      CREATE TABLE usage_samples (
        id              INTEGER PRIMARY KEY,
        vm_id           INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        at              TEXT NOT NULL,
        device_time_ns  INTEGER NOT NULL DEFAULT 0,
        bytes_h2d       INTEGER NOT NULL DEFAULT 0,
        bytes_d2h       INTEGER NOT NULL DEFAULT 0,
        calls           INTEGER NOT NULL DEFAULT 0,
        peak_memory     INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX usage_samples_vm_at ON usage_samples(vm_id, at);
    `,
  },
  {
    version: 3,
    name: 'per-VM hold limit',
    sql: `
      -- How long one call of the VM may hold a GPU while others wait, in ms: NULL for the
      -- mediator's default (--max-hold), 0 for no limit.
      ALTER TABLE vms ADD COLUMN max_hold_ms INTEGER CHECK (max_hold_ms IS NULL OR max_hold_ms >= 0);
    `,
  },
  // Self-contained (it only adds columns and indexes), so that it can take another number when
  // branches that add migrations meet.
  {
    version: 4,
    name: 'vsock channel binding',
    sql: `
      -- The vsock channel a VM's guests arrive on (docs/virtual-machines.md): its guest CID on an
      -- AF_VSOCK listener, or the hybrid socket path (a vsock-uds: listener's PATH). A guest on a
      -- bound channel is that VM without a token. One channel belongs to at most one VM.
      ALTER TABLE vms ADD COLUMN vsock_cid INTEGER CHECK (vsock_cid IS NULL OR vsock_cid BETWEEN 3 AND 4294967294);
      ALTER TABLE vms ADD COLUMN vsock_path TEXT CHECK (vsock_path IS NULL OR substr(vsock_path, 1, 1) = '/');
      CREATE UNIQUE INDEX vms_vsock_cid ON vms(vsock_cid) WHERE vsock_cid IS NOT NULL;
      CREATE UNIQUE INDEX vms_vsock_path ON vms(vsock_path) WHERE vsock_path IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: 'session id counter',
    sql: `
      -- Counters that must never go back, whatever mediator runs: 'session' is the highest session
      -- id handed out. Executors outlive a mediator (docs/executors.md), so a new mediator adopts
      -- their sessions and must never give a new session an id one of them still has.
      CREATE TABLE counters (
        name   TEXT PRIMARY KEY,
        value  INTEGER NOT NULL CHECK (value >= 0)
      );
      INSERT INTO counters (name, value) VALUES ('session', 0);
    `,
  },
  // Self-contained (a new table only), so that it can take another number when branches meet.
  {
    version: 6,
    name: 'operators',
    sql: `
      -- People (or programs) who administer the host through the admin API, each with a token of
      -- their own so the audit log names who made a change (docs/admin-api.md, Operators). Only
      -- the token's sha256 is kept, as for VMs.
      CREATE TABLE operators (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        token_hash  TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      );
    `,
  },
  // Self-contained (it only adds a column and an index), so that it can take another number when
  // branches that add migrations meet.
  {
    version: 7,
    name: 'TLS client certificate binding',
    sql: `
      -- The client certificate (SHA-256 of its DER form, 64 lower-case hex digits) whose guests on
      -- tls: listeners are this VM without a token (docs/virtual-machines.md, "Client
      -- certificates"). One certificate belongs to at most one VM.
      ALTER TABLE vms ADD COLUMN tls_client_cert_sha256 TEXT
        CHECK (tls_client_cert_sha256 IS NULL OR (length(tls_client_cert_sha256) = 64 AND tls_client_cert_sha256 NOT GLOB '*[^0-9a-f]*'));
      CREATE UNIQUE INDEX vms_tls_client_cert ON vms(tls_client_cert_sha256) WHERE tls_client_cert_sha256 IS NOT NULL;
    `,
  },
  // Self-contained (it only adds a column and an index), so that it can take another number when
  // branches that add migrations meet.
  {
    version: 8,
    name: 'shared memory file',
    sql: `
      -- The host file behind the VM's ivshmem region (docs/virtual-machines.md, "Shared memory"):
      -- the executors of the VM's sessions map it for bulk copies. One file belongs to at most one
      -- VM, so no VM's executor maps another's memory.
      ALTER TABLE vms ADD COLUMN shm_path TEXT CHECK (shm_path IS NULL OR substr(shm_path, 1, 1) = '/');
      CREATE UNIQUE INDEX vms_shm_path ON vms(shm_path) WHERE shm_path IS NOT NULL;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/** Applies the migrations `db` lacks; returns the versions applied (empty when up to date). */
export function migrate(db: Database, file: string): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
  )`);
  const current = db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const run = db.transaction((): number[] => {
    // Read inside the transaction: another process may have migrated while we waited for the lock.
    const have = current.get() as number;
    if (have > SCHEMA_VERSION) {
      throw new VgpuError('VGPU_ERR_STORE_VERSION', { file, found: have, known: SCHEMA_VERSION });
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= have) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
      applied.push(m.version);
    }
    return applied;
  });
  return run.immediate();
}
