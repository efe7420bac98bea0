// Live sessions, each with a Kill button (POST /v1/sessions/ID/kill).

import { useState } from 'preact/hooks';

import { api, ApiError, type SessionView } from '../api.js';
import { bytes, ns, shortUuid, time } from '../format.js';

export function SessionsPanel({ sessions }: { sessions: SessionView[] }) {
  const [error, setError] = useState('');
  const kill = async (s: SessionView): Promise<void> => {
    if (!confirm(`End session ${s.id} (${s.program}, pid ${s.guestPid} on ${s.hostname}, VM ${s.vm})? Its program's next CUDA call fails.`)) return;
    try {
      await api.killSession(s.id);
      setError('');
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <section id="sessions">
      <h2>Sessions</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {sessions.length === 0 ? <p class="note">No guest is connected.</p> : (
        <table>
          <thead>
            <tr><th>id</th><th>VM</th><th>guest host</th><th>pid</th><th>program</th><th>state</th><th>GPUs</th><th>memory</th><th>calls</th><th>device time</th><th>started</th><th /></tr>
          </thead>
          <tbody>
            {sessions.map((s) => (
              <tr key={s.id} data-session={s.id} data-vm={s.vm}>
                <td>{s.id}</td>
                <td>{s.vm}</td>
                <td>{s.hostname}</td>
                <td class="num">{s.guestPid}</td>
                <td>{s.program}</td>
                <td>{s.state}</td>
                <td title={s.gpus.join('\n')}>{s.gpus.map(shortUuid).join(', ')}</td>
                <td class="num" data-field="memoryUsed" data-bytes={s.memoryUsed}>{bytes(s.memoryUsed)}</td>
                <td class="num">{s.calls}</td>
                <td class="num">{ns(s.deviceTimeNs)}</td>
                <td>{time(s.startedAt)}</td>
                <td>{s.state === 'attached' && <button type="button" class="danger" onClick={() => void kill(s)}>Kill</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
