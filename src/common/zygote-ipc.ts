// The messages between the mediator and its executor zygote (docs/executors.md, "Zygote"), over
// Node's IPC channel of child_process (JSON serialization). The mediator asks for one executor at a
// time (`fork`, with the child's end of a socketpair the mediator made as its handle); the child
// greets the mediator's control socket as a spawned executor does, and the mediator later sends
// its guest's connection over the socketpair. The zygote reaps its children and says how each
// ended (`exited`); only it may signal them, because only it knows whether a pid is still its
// child's. Both sides validate what they receive.

import { z } from 'zod';

import { LOG_FORMAT_ENV, LOG_LEVEL_ENV, LOG_LEVEL_ENV_ALIAS } from './log.js';

/** The environment a forked executor takes from the mediator as it is at the fork, not as it was
 * when the zygote started: the logging a SIGHUP may have changed. */
export const FORK_ENV_KEYS = [LOG_LEVEL_ENV, LOG_LEVEL_ENV_ALIAS, LOG_FORMAT_ENV] as const;

const pid = z.number().int().min(1).max(0x7fffffff);
const envValue = z.string().max(64).optional();
const requestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const toZygoteSchema = z.discriminatedUnion('type', [
  /** Fork one executor, whose handoff socket is the message's handle; the answer (`forked` or
   * `forkFailed`) carries the same id, and the next `fork` waits for it. */
  z.strictObject({
    type: z.literal('fork'),
    id: requestId,
    /** Each key set to its value, or unset when absent. */
    env: z.strictObject({ [LOG_LEVEL_ENV]: envValue, [LOG_LEVEL_ENV_ALIAS]: envValue, [LOG_FORMAT_ENV]: envValue }),
  }),
  /** Signal a child, if it has not been reaped. */
  z.strictObject({ type: z.literal('kill'), pid, signal: z.enum(['SIGTERM', 'SIGKILL']) }),
]);
export type ToZygote = z.infer<typeof toZygoteSchema>;

export const fromZygoteSchema = z.discriminatedUnion('type', [
  /** The zygote has loaded the executor and waits for requests. */
  z.strictObject({ type: z.literal('zygote'), pid }),
  /** A child was forked. */
  z.strictObject({ type: z.literal('forked'), id: requestId, pid }),
  z.strictObject({ type: z.literal('forkFailed'), id: requestId, error: z.string().max(400) }),
  /** A child ended: its exit code, or the signal that ended it. */
  z.strictObject({ type: z.literal('exited'), pid, code: z.number().int().min(0).max(255).nullable(), signal: z.string().max(16).nullable() }),
]);
export type FromZygote = z.infer<typeof fromZygoteSchema>;
