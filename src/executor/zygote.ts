// The executor zygote (docs/executors.md, "Zygote"): a Node process that has loaded the executor
// and forks a copy of itself for each executor the mediator asks for. A forked executor starts with
// Node booted and the executor's code compiled, so it costs a few milliseconds of CPU instead of a
// process start, and it shares its memory with the zygote and its siblings until it writes to it.
// Each session still has a process of its own: the child loads the driver itself, after the fork
// (a driver that was initialised must never be forked), so a sticky CUDA error ends one session.
//
// The zygote never loads the driver, serves no session and keeps no state but its children's pids:
// it reaps them and reports how they ended, and it alone signals them (a pid it has reaped may
// belong to another process by then). It ends when its mediator goes away; its children do not.

import { writeSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';

import { createLogger } from '../common/log.js';
import { socketFd, zygoteCalls, type ZygoteCalls } from '../common/zygote-calls.js';
import { FORK_ENV_KEYS, toZygoteSchema, type FromZygote, type ToZygote } from '../common/zygote-ipc.js';
import { ipcIssue, sendIpc } from '../common/executor-ipc.js';
import { shrinkNow } from './idle-shrink.js';

/** What a forked child runs: the executor's main with the zygote's arguments and the child's end
 * of its handoff socketpair. */
export type ExecutorEntry = (argv: string[], handoffFd: number) => void;

function signalName(sig: number): string | null {
  if (sig < 0) return null;
  const found = Object.entries(constants.signals).find(([, n]) => n === sig);
  return found ? found[0] : `SIG${sig}`;
}

/** Serves the mediator's requests until it goes away. `argv` is what each child's main gets. */
export function runZygote(argv: string[], entry: ExecutorEntry): void {
  const log = createLogger({ name: 'vgpu-zygote' }).child({ pid: process.pid });
  if (!process.send) {
    log.error({}, 'the zygote must be started by the mediator (no IPC channel)');
    process.exit(2);
  }
  let z: ZygoteCalls;
  try {
    z = zygoteCalls();
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot load the zygote library');
    process.exit(3);
  }
  /** Children forked and not reaped yet. */
  const children = new Set<number>();
  // The zygote itself never sends a descriptor: Node then holds back everything it sends until
  // the receiver acknowledges it, and a child forked meanwhile would inherit that state, keep
  // the channel open and read the zygote's messages.
  const send = (m: FromZygote): void => void sendIpc(process, m);

  const reap = (): void => {
    const code = [0];
    const sig = [0];
    for (;;) {
      const pid = z.reap(code, sig);
      if (pid <= 0) return;
      children.delete(pid);
      const c = code[0] ?? -1;
      send({ type: 'exited', pid, code: c >= 0 ? c : null, signal: signalName(sig[0] ?? -1) });
    }
  };
  process.on('SIGCHLD', reap);

  // The mediator asks for one fork at a time and sends the child's end of its handoff socketpair
  // with the request. The fork happens here, synchronously: the child then inherits no half-done
  // work of the zygote's, and no other child's handoff socket.
  process.on('message', (raw: unknown, handle: unknown) => {
    const parsed = toZygoteSchema.safeParse(raw);
    if (!parsed.success) {
      log.error({ issue: ipcIssue(parsed.error) }, 'invalid message from the mediator; exiting');
      process.exit(2);
    }
    const m: ToZygote = parsed.data;
    if (m.type === 'kill') {
      if (handle instanceof net.Socket) handle.destroy();
      if (children.has(m.pid)) {
        try {
          process.kill(m.pid, m.signal);
        } catch {
          /* exited, not reaped yet */
        }
      }
      return;
    }
    const fd = handle instanceof net.Socket ? socketFd(handle) : -1;
    if (fd < 0) {
      if (handle instanceof net.Socket) handle.destroy();
      send({ type: 'forkFailed', id: m.id, error: 'the fork request came without the handoff socket' });
      return;
    }
    const pid = z.fork();
    if (pid === 0) {
      // Node reads the received socket itself: the executor keeps a descriptor Node does not
      // know of, so that only it receives the guest's connection.
      const own = z.dup(fd);
      (handle as net.Socket).destroy();
      becomeExecutor(z);
      for (const k of FORK_ENV_KEYS) {
        const v = m.env[k];
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      if (own < 0) {
        writeSync(2, `vgpu-executor: cannot keep the handoff socket (errno ${-own})\n`);
        z.exit(3);
      }
      entry(argv, own);
      return;
    }
    (handle as net.Socket).destroy();
    if (pid < 0) {
      send({ type: 'forkFailed', id: m.id, error: `fork failed (errno ${-pid})` });
      return;
    }
    children.add(pid);
    send({ type: 'forked', id: m.id, pid });
  });
  // The zygote serves its mediator only; executors it forked carry on without it.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {});
  // Children start from the zygote's memory as it is now: collect what loading left behind once,
  // so that no child's first collection has it to do (and to write to its own pages).
  shrinkNow();
  send({ type: 'zygote', pid: process.pid });
  log.debug({}, 'zygote ready');
}

/** In a child just forked: drops what was the zygote's (its IPC channel, its listeners) before the
 * executor runs. */
function becomeExecutor(z: ZygoteCalls): void {
  // Node read its pid once, at its start: the zygote's.
  Object.defineProperty(process, 'pid', { value: z.getpid(), enumerable: true, configurable: true, writable: false });
  process.removeAllListeners('message');
  process.removeAllListeners('disconnect');
  process.removeAllListeners('SIGCHLD');
  process.removeAllListeners('SIGINT');
  // Closes this process's copy of the channel before the event loop runs again, so that the
  // zygote's messages are never read here; nothing is written to it.
  if (process.connected) process.disconnect();
  // Node's own exit tears its V8 platform down, and waits there forever for the zygote's worker
  // threads, which a fork does not copy. This process ends without it, once its 'exit' listeners
  // have run (process.exit calls reallyExit after them), and the same way when its event loop
  // runs dry or an exception is not caught.
  const proc = process as unknown as { reallyExit: (code: number) => void };
  proc.reallyExit = (code) => z.exit(code);
  process.on('beforeExit', (code) => process.exit(code));
  process.on('uncaughtException', (e) => {
    try {
      writeSync(2, `vgpu-executor: uncaught ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    } finally {
      z.exit(7);
    }
  });
}
