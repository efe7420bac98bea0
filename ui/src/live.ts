// The mediator's live state over server-sent events (GET /v1/events), and the GPUs' history: the
// server's last minutes (GET /v1/gpus/history) extended by each event, kept to a bounded length.

import { useEffect, useState } from 'preact/hooks';

import { api, type GpuSample, type LiveView } from './api.js';

/** Samples kept in the page: the server's 15 minutes plus as long again at one a second. */
const KEEP_SAMPLES = 1350;

export interface LiveState {
  live: LiveView | undefined;
  history: GpuSample[];
  /** 'open' while events arrive; why not otherwise. */
  connection: string;
}

export function useLive(): LiveState {
  const [state, setState] = useState<LiveState>({ live: undefined, history: [], connection: 'connecting' });
  useEffect(() => {
    let closed = false;
    const source = new EventSource('/v1/events');
    void api.gpuHistory()
      .then((h) => {
        if (!closed) setState((s) => ({ ...s, history: [...h, ...s.history.filter((x) => x.at > (h.at(-1)?.at ?? ''))] }));
      })
      .catch(() => { /* the stream's own state says what is wrong */ });
    source.addEventListener('live', (e: MessageEvent<string>) => {
      const live = JSON.parse(e.data) as LiveView;
      const sample: GpuSample = {
        at: live.at,
        gpus: live.gpus.map((g) => ({ uuid: g.uuid, memoryUsed: g.memoryUsed, utilization: g.utilization, temperatureC: g.temperatureC, powerW: g.powerW })),
      };
      setState((s) => ({ live, connection: 'open', history: [...s.history, sample].slice(-KEEP_SAMPLES) }));
    });
    source.addEventListener('error', () => {
      // EventSource reconnects by itself (the server asks for 2 s); say so meanwhile.
      if (!closed) setState((s) => ({ ...s, connection: source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting' }));
    });
    return () => {
      closed = true;
      source.close();
    };
  }, []);
  return state;
}
