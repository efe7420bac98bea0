// The control plane's error catalogue: every failure an operator can meet in the store or the CLI
// has a stable `VGPU_ERR_*` code, a message template and the exit status the CLI returns for it.
// Codes are part of the interface (scripts match on them in `--json` output); the table in
// docs/operations.md is kept in sync with this one by test/cli/errors.test.ts.
//
// These are string codes for the host's own tools. The wire protocol has its own numeric status
// codes, VG_WIRE_STATUS_* (spec/wire-status.tsv), named apart so that neither is taken for the other.

/** Exit statuses of the CLI. Only the entry point turns them into a process exit. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  /** The command needs a running mediator and could not use one (none running, unreachable,
   * or it refused the admin token). */
  unavailable: 5,
} as const;
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

interface CatalogueEntry {
  /** `{param}` placeholders are filled from the error's params. */
  readonly message: string;
  /** How to fix it; same placeholders. Empty where the message says it all. */
  readonly hint: string;
  readonly exit: ExitStatus;
}

export const ERRORS = {
  VGPU_ERR_USAGE: {
    message: '{detail}',
    hint: "run 'vgpu-admin --help' or 'vgpu-admin <command> --help' for the accepted arguments",
    exit: EXIT.usage,
  },
  VGPU_ERR_INVALID_ARGUMENT: {
    message: 'invalid {field}: {detail}',
    hint: '',
    exit: EXIT.usage,
  },
  VGPU_ERR_INVALID_NAME: {
    message: 'invalid {kind} name "{name}"',
    hint: "names are 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
    exit: EXIT.usage,
  },
  VGPU_ERR_INVALID_SIZE: {
    message: 'invalid size "{input}": {reason}',
    hint: 'write a whole number of bytes or a number with a binary unit, like 512M, 2G, 1.5GiB',
    exit: EXIT.usage,
  },
  VGPU_ERR_INVALID_PRIORITY: {
    message: 'invalid priority "{input}"',
    hint: 'use one of: high, medium, low',
    exit: EXIT.usage,
  },
  VGPU_ERR_TOKEN_NOT_RECOVERABLE: {
    message: 'the token of {kind} "{name}" cannot be shown: only its hash is stored',
    hint: "run 'vgpu-admin {command} token {name} --rotate' to replace it with a new token (the old one stops working)",
    exit: EXIT.usage,
  },
  VGPU_ERR_VM_NOT_FOUND: {
    message: 'no VM named "{name}"',
    hint: "run 'vgpu-admin vm list' to see the VMs, or 'vgpu-admin vm add {name}' to create it",
    exit: EXIT.notFound,
  },
  VGPU_ERR_POOL_NOT_FOUND: {
    message: 'no pool named "{name}"',
    hint: "pools that exist: {known}",
    exit: EXIT.notFound,
  },
  VGPU_ERR_VM_EXISTS: {
    message: 'a VM named "{name}" already exists',
    hint: "choose another name, change it with 'vgpu-admin vm set {name} ...', or remove it first with 'vgpu-admin vm rm {name}'",
    exit: EXIT.conflict,
  },
  VGPU_ERR_OPERATOR_NOT_FOUND: {
    message: 'no operator named "{name}"',
    hint: "run 'vgpu-admin operator list' to see the operators, or 'vgpu-admin operator add {name}' to create one",
    exit: EXIT.notFound,
  },
  VGPU_ERR_OPERATOR_EXISTS: {
    message: 'an operator named "{name}" already exists',
    hint: "choose another name, or replace its token with 'vgpu-admin operator token {name} --rotate'",
    exit: EXIT.conflict,
  },
  VGPU_ERR_OPERATOR_RESERVED: {
    message: 'the operator name "{name}" is reserved',
    hint: "'admin' is the admin-token file in the mediator's state directory; choose another name",
    exit: EXIT.usage,
  },
  VGPU_ERR_CHANNEL_IN_USE: {
    message: '{channel} is already bound to VM "{vm}"',
    hint: "unbind it first with 'vgpu-admin vm set {vm} --vsock-cid none --vsock-path none --tls-client-cert-sha256 none --shm-path none', or bind another channel",
    exit: EXIT.conflict,
  },
  VGPU_ERR_POOL_IN_USE: {
    message: 'pool "{name}" is used by {count} VM(s): {vms}',
    hint: "move them to another pool first with 'vgpu-admin vm set NAME --pool OTHER'",
    exit: EXIT.conflict,
  },
  VGPU_ERR_GPU_NOT_FOUND: {
    message: 'no GPU {uuid} has been seen on this host',
    hint: "run 'vgpu-admin gpu list'; GPUs are recorded when the mediator starts",
    exit: EXIT.notFound,
  },
  VGPU_ERR_SESSION_NOT_FOUND: {
    message: 'no running session {id}',
    hint: "run 'vgpu-admin session list' to see the sessions",
    exit: EXIT.notFound,
  },
  VGPU_ERR_NO_MEDIATOR: {
    message: '{detail}',
    hint: "start the mediator ('make run' or 'vgpu-mediator'), or point at one with --url URL or VGPU_ADMIN_URL",
    exit: EXIT.unavailable,
  },
  VGPU_ERR_UNAUTHORIZED: {
    message: 'the admin API refused the request: {detail}',
    hint: "pass your operator token ('vgpu-admin operator add NAME' on the host makes one) or the admin token (admin-token in the mediator's state directory) with --token or VGPU_ADMIN_TOKEN",
    exit: EXIT.unavailable,
  },
  VGPU_ERR_FORBIDDEN: {
    message: 'the admin API refused the request: {detail}',
    hint: 'use vgpu-admin, or send what it sends: the API\'s own address in Host and X-Vgpu-Request: 1',
    exit: EXIT.unavailable,
  },
  VGPU_ERR_STATE_DIR: {
    message: 'cannot use state directory {dir}: {reason}',
    hint: 'pass a directory you can write with --state-dir DIR or VGPU_STATE_DIR, or fix its permissions',
    exit: EXIT.usage,
  },
  VGPU_ERR_CONFIG: {
    message: "the mediator's configuration file does not load: {detail}",
    hint: "fix it (docs/operations.md, \"Configuration file\"), or name the state directory with --state-dir DIR or VGPU_STATE_DIR, or pass --no-config",
    exit: EXIT.usage,
  },
  VGPU_ERR_STORE_OPEN: {
    message: 'cannot open the configuration database {file}: {reason}',
    hint: 'check that the file is a vgpu database and is readable; move it aside to start from an empty configuration',
    exit: EXIT.internal,
  },
  VGPU_ERR_STORE_VERSION: {
    message: 'the configuration database {file} has schema version {found}, newer than this vgpu understands ({known})',
    hint: 'run a vgpu at least as new as the one that last wrote this database',
    exit: EXIT.internal,
  },
  VGPU_ERR_STORE_BUSY: {
    message: 'the configuration database {file} stayed locked by another process',
    hint: 'retry; if it persists, look for a process holding the database open in a long transaction',
    exit: EXIT.internal,
  },
  VGPU_ERR_INTERNAL: {
    message: 'internal error: {detail}',
    hint: 'this is a bug in vgpu; please report it with the command you ran and this message',
    exit: EXIT.internal,
  },
} as const satisfies Record<string, CatalogueEntry>;

export type VgpuErrorCode = keyof typeof ERRORS;
export type ErrorParams = Readonly<Record<string, string | number>>;

function fill(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const v = params[key];
    return v === undefined ? whole : String(v);
  });
}

/** A failure with a catalogue code; the CLI prints its message and hint and exits with its status. */
export class VgpuError extends Error {
  readonly code: VgpuErrorCode;
  readonly params: ErrorParams;
  readonly hint: string;
  readonly exitStatus: ExitStatus;

  /** `options.message`/`hint` carry the text of an error raised elsewhere (the admin API's
   * answer), so the CLI prints what the mediator said rather than an unfilled template. */
  constructor(code: VgpuErrorCode, params: ErrorParams = {}, options?: { cause?: unknown; message?: string; hint?: string }) {
    const entry: CatalogueEntry = ERRORS[code];
    super(options?.message ?? fill(entry.message, params), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VgpuError';
    this.code = code;
    this.params = params;
    this.hint = options?.hint ?? fill(entry.hint, params);
    this.exitStatus = entry.exit;
  }

  toJSON(): { code: string; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

/** A bug: something that should not happen whatever the input. */
export class InternalError extends VgpuError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('VGPU_ERR_INTERNAL', { detail }, options);
    this.name = 'InternalError';
  }
}

/**
 * Ends a command with a status after it has already said everything it had to say (or has
 * nothing to say, like `--help`). Carries no message of its own.
 */
export class ExitError extends Error {
  readonly exitStatus: ExitStatus;
  constructor(exitStatus: ExitStatus) {
    super(`exit ${exitStatus}`);
    this.name = 'ExitError';
    this.exitStatus = exitStatus;
  }
}

export function isVgpuError(e: unknown, code?: VgpuErrorCode): e is VgpuError {
  return e instanceof VgpuError && (code === undefined || e.code === code);
}
