// The audit log's newest entries, newest first; reloaded whenever the live state's audit head moves.

import { useEffect, useState } from 'preact/hooks';

import { api, type AuditEntry } from '../api.js';
import { time } from '../format.js';

const SHOWN = 50;

export function AuditPanel({ head }: { head: number }) {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    api.audit(SHOWN).then((e) => { setEntries(e.reverse()); setError(''); }, (e: unknown) => setError(String(e)));
  }, [head]);
  return (
    <section id="audit">
      <h2>Audit log</h2>
      {error && <p class="error" role="alert">{error}</p>}
      <table>
        <thead><tr><th>#</th><th>when</th><th>who</th><th>what</th><th>target</th><th>details</th></tr></thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id} data-audit={e.action}>
              <td class="num">{e.id}</td>
              <td>{time(e.at)}</td>
              <td>{e.actor}</td>
              <td>{e.action}</td>
              <td>{e.target}</td>
              <td><code>{JSON.stringify(e.details)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
