// Server-sent event streams of the admin API (routes with produces text/event-stream): the event's
// data is taken at once and then every `everyMs`, and written as one `event:`/`data:` record. A
// stream ends when its client goes (its timer is cleared at once, so nothing is taken for nobody),
// when taking the data fails (an `error` event says why first), and when the server closes.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** How long a browser waits before reconnecting a dropped stream. */
const RETRY_MS = 2000;

export interface EventSourceSpec {
  event: string;
  everyMs: number;
  take(): Promise<unknown>;
}

/** The streams open now, so that closing the server can end them (it waits for open connections). */
export class EventStreams {
  private readonly open = new Set<() => void>();

  get size(): number {
    return this.open.size;
  }

  /** Streams `first` (taken before, so that a failure is an ordinary error answer), then what
   * `spec.take` answers every `spec.everyMs`. */
  serve(req: FastifyRequest, reply: FastifyReply, spec: EventSourceSpec, first: unknown, log: Logger): void {
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies that buffer (nginx) would hold the events back.
      'x-accel-buffering': 'no',
    });
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      this.open.delete(end);
      if (!res.writableEnded) res.end();
      log.debug({ url: req.url, open: this.open.size }, 'admin API: event stream ended');
    };
    this.open.add(end);
    // The response's close, not the request's: a request's 'close' says its body was read.
    res.on('close', end);
    res.on('error', (e) => {
      log.debug({ err: e.message }, 'admin API: event stream closed by an error');
      end();
    });
    const write = (event: string, data: unknown): void => {
      if (!ended) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const next = (): void => {
      if (!ended) timer = setTimeout(() => void tick(), spec.everyMs);
    };
    const tick = async (): Promise<void> => {
      try {
        write(spec.event, await spec.take());
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'admin API: event stream ended: its data could not be taken');
        write('error', { message: (e as Error).message });
        end();
        return;
      }
      next();
    };
    res.write(`retry: ${RETRY_MS}\n\n`);
    write(spec.event, first);
    next();
  }

  /** Ends every open stream (the server is closing). */
  closeAll(): void {
    for (const end of [...this.open]) end();
  }
}
