// The GPU scheduler: who holds each GPU and who waits now, and per VM the time slices it was
// granted (by why), taken back, and the device time it used while others wanted the GPU.

import type { LiveGpu, LiveVm, SessionView } from '../api.js';
import { ns } from '../format.js';

function who(id: number, sessions: SessionView[]): string {
  const s = sessions.find((x) => x.id === id);
  return s ? `${id} (${s.vm}, ${s.program})` : String(id);
}

export function SchedulerPanel({ gpus, vms, sessions }: { gpus: LiveGpu[]; vms: LiveVm[]; sessions: SessionView[] }) {
  return (
    <section id="scheduler">
      <h2>Scheduler</h2>
      <table>
        <thead><tr><th>GPU</th><th>holding</th><th>waiting, in request order</th></tr></thead>
        <tbody>
          {gpus.map((g) => (
            <tr key={g.uuid}>
              <td>GPU {g.ordinal}</td>
              <td>{g.holder === null ? 'nobody' : who(g.holder, sessions)}</td>
              <td>{g.waiting.length === 0 ? 'nobody' : g.waiting.map((id) => who(id, sessions)).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table>
        <thead>
          <tr><th>VM</th><th>grants: alone</th><th>by policy</th><th>by starvation guard</th><th>preemptions</th><th>contended device time</th></tr>
        </thead>
        <tbody>
          {vms.map((v) => (
            <tr key={v.vm} data-vm={v.vm}>
              <td>{v.vm}</td>
              <td class="num">{v.grants.alone}</td>
              <td class="num">{v.grants.policy}</td>
              <td class="num">{v.grants.starvation}</td>
              <td class="num">{v.preemptions}</td>
              <td class="num">{ns(v.contendedDeviceTimeNs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="note">Counts since the mediator started. A slice is granted alone when nobody else wanted the GPU, by policy when the VM came first by priority, weight and request order, by the starvation guard when it had waited too long.</p>
    </section>
  );
}
