// vgpu-admin's entry point. `main` parses, runs one command and returns the exit status; it is the
// only place that turns errors into statuses and messages. bin/vgpu-admin sets process.exitCode
// from it; tests call it directly.

import { CommanderError } from 'commander';
import { EXIT, ExitError, InternalError, VgpuError, type ExitStatus } from '../common/errors.js';
import { Context, processIo, type CliIo } from './context.js';
import { buildProgram } from './program.js';

function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

function report(io: CliIo, json: boolean, e: VgpuError): void {
  if (json) {
    io.stderr(JSON.stringify({ error: e.toJSON() }) + '\n');
    return;
  }
  io.stderr(`vgpu-admin: error: ${e.message}\n`);
  if (e.hint) io.stderr(`  ${e.hint}\n`);
}

function fromCommander(e: CommanderError): VgpuError | ExitError {
  // Help and version requests end through exitOverride too; they are not failures.
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return new ExitError(EXIT.ok);
  // A group without its subcommand (`vgpu-admin vm`): commander has printed the group's help.
  if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return new ExitError(EXIT.usage);
  return new VgpuError('VGPU_ERR_USAGE', { detail: e.message.replace(/^error: /, '') });
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<ExitStatus> {
  const json = wantsJson(argv);
  let ctx: Context | null = null;
  try {
    const program = buildProgram(
      async (spec, operands, opts, globals) => {
        const { Store } = await import('../store/index.js');
        ctx = new Context(io, globals, (dir, opts) => Store.open(dir, opts));
        const handler = await spec.load();
        await handler(ctx, operands, opts);
      },
      { out: io.stdout, err: io.stderr },
    );
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (raw) {
    let e: unknown = raw;
    if (e instanceof CommanderError) e = fromCommander(e);
    if (e instanceof ExitError) return e.exitStatus;
    if (!(e instanceof VgpuError)) {
      e = new InternalError(e instanceof Error ? (e.stack ?? e.message) : String(e), { cause: e });
    }
    report(io, json, e as VgpuError);
    return (e as VgpuError).exitStatus;
  } finally {
    (ctx as Context | null)?.close();
  }
}
