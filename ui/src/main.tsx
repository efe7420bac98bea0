// The vgpu dashboard (docs/dashboard.md): one page of panels fed by the mediator's event stream.

import 'uplot/dist/uPlot.min.css';
import './style.css';

import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';

import { api, type VmView } from './api.js';
import { useLive } from './live.js';
import { AuditPanel } from './panels/audit.js';
import { GpusPanel } from './panels/gpus.js';
import { SchedulerPanel } from './panels/scheduler.js';
import { SessionsPanel } from './panels/sessions.js';
import { UsagePanel } from './panels/usage.js';
import { VmsPanel } from './panels/vms.js';

/** The usage chart is reloaded this often (its buckets are seconds to days long). */
const USAGE_REFRESH_MS = 10_000;

function App() {
  const { live, history, connection } = useLive();
  const [vms, setVms] = useState<VmView[]>([]);
  const [error, setError] = useState('');
  const [changes, setChanges] = useState(0);
  const head = live?.auditHead ?? 0;
  const reloadVms = useCallback(() => setChanges((n) => n + 1), []);
  useEffect(() => {
    api.vms().then((v) => { setVms(v); setError(''); }, (e: unknown) => setError(String(e)));
  }, [head, changes]);
  const usageTick = live ? Math.floor(Date.parse(live.at) / USAGE_REFRESH_MS) : 0;
  return (
    <>
      <header>
        <h1>vgpu</h1>
        <nav>
          {['gpus', 'vms', 'sessions', 'scheduler', 'usage', 'audit'].map((id) => <a key={id} href={`#${id}`}>{id}</a>)}
        </nav>
        <span class={`connection ${connection}`} data-connection={connection}>
          {connection === 'open' ? `live · ${live?.sessions.length ?? 0} sessions` : connection}
        </span>
      </header>
      <main>
        {error && <p class="error" role="alert">{error}</p>}
        {live && <GpusPanel gpus={live.gpus} history={history} />}
        <VmsPanel vms={vms} live={live?.vms ?? []} onChanged={reloadVms} />
        {live && <SessionsPanel sessions={live.sessions} />}
        {live && <SchedulerPanel gpus={live.gpus} vms={live.vms} sessions={live.sessions} />}
        <UsagePanel refresh={usageTick + changes} />
        <AuditPanel head={head + changes} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
