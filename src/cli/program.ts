// The command table: every command's arguments, options, help text and handler, in one place.
// Handlers are imported only when their command runs, so `vgpu-admin --help` loads no store code.

import { Argument, Command, Option } from 'commander';
import { VgpuError } from '../common/errors.js';
import { DEFAULT_POOL } from '../store/pools.js';
import { VM_ADD_DEFAULTS } from '../store/validate.js';
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from './completion.js';
import type { CommandContext, GlobalOptions } from './context.js';
import { versionLine } from '../common/version.js';
import { DEFAULT_CONFIG_FILE } from '../mediator/config-file.js';

type Handler = (ctx: CommandContext, operands: string[], opts: Record<string, unknown>) => void | Promise<void>;

interface OptionSpec {
  flags: string;
  description: string;
  choices?: readonly string[];
  /** May be given several times; the values arrive as an array. */
  repeatable?: boolean;
}

interface CommandSpec {
  /** Words after `vgpu-admin`, e.g. ['vm', 'add']. */
  path: readonly string[];
  /** Commander argument syntax, e.g. '<name>'. */
  args: string;
  summary: string;
  options: readonly OptionSpec[];
  examples: readonly string[];
  load: () => Promise<Handler>;
}

const VM_FIELDS: readonly OptionSpec[] = [
  { flags: '--priority <class>', description: 'scheduling class: high, medium or low' },
  { flags: '--pool <name>', description: 'pool of GPUs the VM is placed on' },
  { flags: '--memory <size|none>', description: 'GPU memory quota per vGPU, e.g. 512M, 2G, 1.5GiB (binary units), or none' },
  { flags: '--weight <n>', description: 'share within its priority class, 1 to 10000' },
  { flags: '--vgpus <n>', description: 'number of vGPUs the guest sees, 1 to 16' },
  { flags: '--pci-bus-id <id|none>', description: 'PCI bus id the guest sees, e.g. 0000:65:00.0' },
  { flags: '--vsock-cid <cid|none>', description: "guest CID whose vsock connections (vsock: listeners) are this VM's, without a token" },
  { flags: '--vsock-path <path|none>', description: "hybrid vsock socket (the PATH of a vsock-uds: listener) whose connections are this VM's, without a token" },
  {
    flags: '--tls-client-cert-sha256 <hex|none>',
    description: "SHA-256 of the TLS client certificate (signed by the mediator's --tls-client-ca) whose connections on tls: listeners are this VM's, without a token",
  },
  {
    flags: '--shm-path <file|none>',
    description: "host file behind the VM's ivshmem region (QEMU memory-backend-file mem-path), which its sessions' executors map for bulk copies",
  },
  { flags: '--notes <text>', description: 'free text for operators' },
  {
    flags: '--max-hold <duration|off|default>',
    description: "longest one call may hold the GPU while others wait (5s, 500ms), after which the session is ended; off for no limit, default for the mediator's --max-hold",
  },
];

/** `vm add`'s help: VM_FIELDS with what the VM gets when the option is left out (`vm set` leaves
 * such a field as it is, so its help shows none). */
const VM_ADD_DEFAULT_TEXT: Readonly<Record<string, string>> = {
  '--priority': VM_ADD_DEFAULTS.priority,
  '--pool': DEFAULT_POOL,
  '--memory': 'none, the whole GPU',
  '--weight': String(VM_ADD_DEFAULTS.weight),
  '--vgpus': String(VM_ADD_DEFAULTS.vgpus),
  '--pci-bus-id': "none, the host GPU's",
  '--vsock-cid': 'none',
  '--vsock-path': 'none',
  '--tls-client-cert-sha256': 'none',
  '--shm-path': 'none',
  '--max-hold': 'default',
};
const VM_ADD_FIELDS: readonly OptionSpec[] = VM_FIELDS.map((o) => {
  const d = VM_ADD_DEFAULT_TEXT[o.flags.split(' ')[0] ?? ''];
  return d === undefined ? o : { ...o, description: `${o.description} (default: ${d})` };
});

// Typed wrappers: each command module exports `run` with its own option interface.
const vmAdd = async (): Promise<Handler> => {
  const m = await import('./commands/vm/add.js');
  return (ctx, [name = ''], o) => m.run(ctx, name, o);
};
const vmList = async (): Promise<Handler> => {
  const m = await import('./commands/vm/list.js');
  return (ctx) => m.run(ctx);
};
const vmShow = async (): Promise<Handler> => {
  const m = await import('./commands/vm/show.js');
  return (ctx, [name = '']) => m.run(ctx, name);
};
const vmSet = async (): Promise<Handler> => {
  const m = await import('./commands/vm/set.js');
  return (ctx, [name = ''], o) => m.run(ctx, name, o);
};
const vmRm = async (): Promise<Handler> => {
  const m = await import('./commands/vm/rm.js');
  return (ctx, [name = '']) => m.run(ctx, name);
};
const vmToken = async (): Promise<Handler> => {
  const m = await import('./commands/vm/token.js');
  return (ctx, [name = ''], o) => m.run(ctx, name, o);
};

const poolList = async (): Promise<Handler> => {
  const m = await import('./commands/pool/list.js');
  return (ctx) => m.run(ctx);
};
const poolAdd = async (): Promise<Handler> => {
  const m = await import('./commands/pool/add.js');
  return (ctx, [name = ''], o) => m.run(ctx, name, o);
};
const poolSet = async (): Promise<Handler> => {
  const m = await import('./commands/pool/set.js');
  return (ctx, [name = ''], o) => m.run(ctx, name, o);
};
const poolRm = async (): Promise<Handler> => {
  const m = await import('./commands/pool/rm.js');
  return (ctx, [name = '']) => m.run(ctx, name);
};
const gpuList = async (): Promise<Handler> => {
  const m = await import('./commands/gpu/list.js');
  return (ctx, _operands, o) => m.run(ctx, o);
};
const sessionList = async (): Promise<Handler> => {
  const m = await import('./commands/session/list.js');
  return (ctx) => m.run(ctx);
};
const sessionKill = async (): Promise<Handler> => {
  const m = await import('./commands/session/kill.js');
  return (ctx, [id = ''], o) => m.run(ctx, id, o);
};
const usageShow = async (): Promise<Handler> => {
  const m = await import('./commands/usage/show.js');
  return (ctx, _operands, o) => m.run(ctx, o);
};
const operatorAdd = async (): Promise<Handler> => {
  const m = await import('./commands/operator/add.js');
  return (ctx, [name = '']) => m.run(ctx, name);
};
const operatorList = async (): Promise<Handler> => {
  const m = await import('./commands/operator/list.js');
  return (ctx) => m.run(ctx);
};
const operatorRm = async (): Promise<Handler> => {
  const m = await import('./commands/operator/rm.js');
  return (ctx, [name = '']) => m.run(ctx, name);
};
const operatorToken = async (): Promise<Handler> => {
  const m = await import('./commands/operator/token.js');
  return (ctx, [name = ''], o) => m.run(ctx, name, o);
};
const auditList = async (): Promise<Handler> => {
  const m = await import('./commands/audit/list.js');
  return (ctx, _operands, o) => m.run(ctx, o);
};

const doctor = async (): Promise<Handler> => {
  const m = await import('./commands/doctor/run.js');
  return (ctx, _operands, o) => m.run(ctx, o);
};
const supportBundle = async (): Promise<Handler> => {
  const m = await import('./commands/support-bundle/run.js');
  return (ctx, _operands, o) => m.run(ctx, o);
};

const DOCTOR_OPTIONS: readonly OptionSpec[] = [
  { flags: '--backend <kind>', description: "the backend the mediator is started with (a running mediator's own wins)", choices: ['auto', 'cuda', 'softgpu'] },
  { flags: '--socket <path>', description: "a guests' Unix socket to check (repeatable; default: the running mediator's, else $VGPU_SERVER's, else the state directory's listen file's, else the configuration file's listen, else /tmp/vgpu.sock)", repeatable: true },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    path: ['vm', 'add'],
    args: '<name>',
    summary: 'create a VM and its token',
    options: [...VM_ADD_FIELDS, { flags: '--print-token', description: 'print the new token as the last line' }],
    examples: ['vgpu-admin vm add web1 --memory 8G --priority high --print-token'],
    load: vmAdd,
  },
  { path: ['vm', 'list'], args: '', summary: 'list the VMs', options: [], examples: ['vgpu-admin vm list --json'], load: vmList },
  { path: ['show-vms'], args: '', summary: 'list the VMs (same as vm list)', options: [], examples: [], load: vmList },
  { path: ['vm', 'show'], args: '<name>', summary: "show a VM's settings and usage", options: [], examples: [], load: vmShow },
  {
    path: ['vm', 'set'],
    args: '<name>',
    summary: 'change a VM',
    options: VM_FIELDS,
    examples: ['vgpu-admin vm set web1 --memory none --weight 200'],
    load: vmSet,
  },
  { path: ['vm', 'rm'], args: '<name>', summary: 'remove a VM', options: [], examples: [], load: vmRm },
  {
    path: ['vm', 'token'],
    args: '<name>',
    summary: "issue a new token for a VM (the old one stops working)",
    options: [{ flags: '--rotate', description: 'replace the token; required, as the current one cannot be shown' }],
    examples: ['vgpu-admin vm token web1 --rotate'],
    load: vmToken,
  },
  { path: ['pool', 'list'], args: '', summary: 'list the pools of GPUs', options: [], examples: [], load: poolList },
  {
    path: ['pool', 'add'],
    args: '<name>',
    summary: 'create a pool of GPUs (each GPU in at most one pool)',
    options: [{ flags: '--gpu <uuid>', description: 'a GPU of the pool, as `gpu list` shows it (repeatable)', repeatable: true }],
    examples: ['vgpu-admin pool add fast --gpu GPU-5f2c0c1e-8d3a-4b6e-9a7f-0123456789ab'],
    load: poolAdd,
  },
  {
    path: ['pool', 'set'],
    args: '<name>',
    summary: "replace a pool's GPUs (running sessions keep theirs)",
    options: [
      { flags: '--gpu <uuid>', description: 'a GPU of the pool (repeatable); the list replaces the old one', repeatable: true },
      { flags: '--no-gpus', description: 'the pool names no GPU' },
    ],
    examples: ['vgpu-admin pool set fast --gpu GPU-5f2c0c1e-8d3a-4b6e-9a7f-0123456789ab'],
    load: poolSet,
  },
  { path: ['pool', 'rm'], args: '<name>', summary: 'remove a pool no VM uses', options: [], examples: [], load: poolRm },
  {
    path: ['gpu', 'list'], args: '', summary: 'list the GPUs this host has seen',
    options: [
      { flags: '--vm <name>', description: "also show the UUID this VM's guest sees for each GPU (made from the VM's name, its vGPU and the GPU's UUID)" },
      { flags: '--vgpu <n>', description: 'with --vm: which of its vGPUs (default: 0, its first)' },
    ],
    examples: ['vgpu-admin gpu list --vm web1'], load: gpuList,
  },
  {
    path: ['session', 'list'], args: '', summary: "list the running mediator's guest sessions", options: [],
    examples: ['vgpu-admin session list --json'], load: sessionList,
  },
  {
    path: ['session', 'kill'],
    args: '<id>',
    summary: 'end a session (its guest gets an error, its executor exits)',
    options: [{ flags: '--reason <text>', description: "what the guest's log says" }],
    examples: ['vgpu-admin session kill 1234567001 --reason "maintenance"'],
    load: sessionKill,
  },
  {
    path: ['usage'],
    args: '',
    summary: 'device time, bytes, calls and peak memory per VM',
    options: [
      { flags: '--vm <name>', description: 'only this VM' },
      { flags: '--since <time>', description: 'since an ISO time or a duration back from now (15m, 2h, 7d); default all time' },
    ],
    examples: ['vgpu-admin usage --vm web1 --since 24h'],
    load: usageShow,
  },
  {
    path: ['operator', 'add'],
    args: '<name>',
    summary: 'create an operator of the admin API and its token (changes they make are audited under their name)',
    options: [],
    examples: ['vgpu-admin operator add alice'],
    load: operatorAdd,
  },
  { path: ['operator', 'list'], args: '', summary: 'list the operators', options: [], examples: [], load: operatorList },
  { path: ['operator', 'rm'], args: '<name>', summary: 'remove an operator (its token stops working)', options: [], examples: [], load: operatorRm },
  {
    path: ['operator', 'token'],
    args: '<name>',
    summary: 'issue a new token for an operator (the old one stops working)',
    options: [{ flags: '--rotate', description: 'replace the token; required, as the current one cannot be shown' }],
    examples: ['vgpu-admin operator token alice --rotate'],
    load: operatorToken,
  },
  {
    path: ['audit'],
    args: '',
    summary: 'show the newest changes to the configuration',
    options: [
      { flags: '--target <name>', description: 'only changes to this VM, pool or operator' },
      { flags: '--limit <n>', description: 'how many entries (default 50)' },
    ],
    examples: ['vgpu-admin audit --target web1'],
    load: auditList,
  },
  {
    path: ['doctor'],
    args: '',
    summary: 'check the driver, backend, store, sockets, admin API, listeners and GPU memory; name the fix for each problem',
    options: DOCTOR_OPTIONS,
    examples: ['vgpu-admin doctor', 'vgpu-admin doctor --backend cuda --json'],
    load: doctor,
  },
  {
    path: ['support-bundle'],
    args: '',
    summary: "write a .tar.gz of the mediator's recent logs, its configuration (tokens redacted), versions, doctor's report and a store summary",
    options: [
      ...DOCTOR_OPTIONS,
      { flags: '-o, --output <file>', description: 'the archive to write (default: vgpu-support-<host>-<time>.tar.gz here)' },
      { flags: '--log <file>', description: "a file the mediator's stderr goes to (repeatable; default: journald's vgpu-mediator unit when there is one)", repeatable: true },
      { flags: '--unit <name>', description: "the systemd unit whose journal is collected (default vgpu-mediator.service)" },
    ],
    examples: ['vgpu-admin support-bundle -o /tmp/vgpu-support.tar.gz'],
    load: supportBundle,
  },
];

const GROUPS: Readonly<Record<string, string>> = {
  vm: 'manage VMs: the guests that may connect',
  pool: 'manage the pools of GPUs VMs are placed on',
  gpu: 'see the GPUs of this host',
  session: "see and end the running mediator's guest sessions",
  operator: 'manage who may administer this host through the admin API',
};

export type RunCommand = (spec: CommandSpec, operands: string[], opts: Record<string, unknown>, globals: GlobalOptions) => Promise<void>;

/** Builds the commander program; `onRun` is called with the chosen command once parsing succeeded. */
export function buildProgram(onRun: RunCommand, write: { out(s: string): void; err(s: string): void }): Command {
  const program = new Command('vgpu-admin')
    .description('administer vgpu: the VMs allowed to use this host\'s GPUs, their quotas and priorities')
    .addOption(new Option('--state-dir <dir>', "configuration directory (default: $VGPU_STATE_DIR, else the configuration file's state-dir, else ~/.local/state/vgpu)"))
    .addOption(new Option('--config <file>', `the mediator's configuration file, read for its state-dir, listen and admin address (default: ${DEFAULT_CONFIG_FILE} when it exists)`))
    .addOption(new Option('--no-config', 'read no configuration file'))
    .addOption(new Option('--json', 'machine-readable output on stdout'))
    .addOption(new Option('--url <url>', "a running mediator's admin API (default: $VGPU_ADMIN_URL, else the one recorded in the state directory)"))
    .addOption(new Option('--token <token>', 'your operator token, or the admin token; the API audits changes under its operator (default: $VGPU_ADMIN_TOKEN, else the state directory\'s admin-token)'))
    .version(versionLine('vgpu-admin'), '--version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: write.out, writeErr: write.err, outputError: () => {} })
    .showSuggestionAfterError(true);
  const groups = new Map<string, Command>();
  for (const spec of COMMANDS) {
    let parent = program;
    const [first = '', ...rest] = spec.path;
    if (rest.length > 0) {
      let g = groups.get(first);
      if (!g) {
        g = program.command(first).description(GROUPS[first] ?? '');
        groups.set(first, g);
      }
      parent = g;
    }
    const leafName = rest.length > 0 ? (rest[0] ?? '') : first;
    const cmd = parent.command(spec.args ? `${leafName} ${spec.args}` : leafName).description(spec.summary);
    for (const o of spec.options) {
      const opt = new Option(o.flags, o.description);
      if (o.choices) opt.choices(o.choices);
      if (o.repeatable) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      cmd.addOption(opt);
    }
    if (spec.examples.length > 0) {
      cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
    }
    cmd.action(async (...args: unknown[]) => {
      const self = args[args.length - 1] as Command;
      const operands = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
      await onRun(spec, operands, self.opts(), self.optsWithGlobals<GlobalOptions>());
    });
  }
  // Generated from the tree above, this command included; it needs no store and no mediator.
  program.command('completion').description('print a shell completion script (bash or zsh)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(COMPLETION_SHELLS))
    .addHelpText('after', '\nExamples:\n  $ source <(vgpu-admin completion bash)\n  $ vgpu-admin completion bash > /etc/bash_completion.d/vgpu-admin\n')
    .action((shell: CompletionShell) => write.out(completionScript(program, shell)));
  addHelpCommand(program);
  return program;
}

/** `help vm add` shows `vm add`'s help: commander's own help command reads only its first word. */
function addHelpCommand(program: Command): void {
  program.helpCommand(false);
  program.command('help [command...]').description('show the help of a command (e.g. help vm add)').action((words: string[]) => {
    let cmd = program;
    for (const w of words) {
      const next = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
      if (!next) {
        const known = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help').join(', ');
        throw new VgpuError('VGPU_ERR_USAGE', { detail: `no command '${[...words.slice(0, words.indexOf(w)), w].join(' ')}' (commands${cmd === program ? '' : ` of ${cmd.name()}`}: ${known})` });
      }
      cmd = next;
    }
    cmd.outputHelp();
  });
}
