// VMs: their settings (editable through PATCH /v1/vms/NAME) and what they use now; a form adds one
// (POST /v1/vms) and shows its token the only time the API gives it.

import { useState } from 'preact/hooks';

import { api, ApiError, type LiveVm, type VmSettings, type VmView } from '../api.js';
import { bytes, ns } from '../format.js';

const PRIORITIES = ['high', 'medium', 'low'] as const;
type Priority = (typeof PRIORITIES)[number];

function message(e: unknown): string {
  return e instanceof ApiError ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : String(e);
}

/** The quota as the form shows it: empty for none. */
const quotaText = (q: number | null): string => (q === null ? '' : String(q));

function AddVm({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [priority, setPriority] = useState<Priority>('medium');
  const [quota, setQuota] = useState('');
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const r = await api.addVm(name.trim(), { priority, ...(quota.trim() !== '' && { memoryQuota: quota.trim() }) });
      setResult({ ok: true, text: r.token });
      setName('');
      setQuota('');
      onAdded();
    } catch (err) {
      setResult({ ok: false, text: message(err) });
    }
  };
  return (
    <form class="inline" onSubmit={(e) => void submit(e)} aria-label="add a VM">
      <label>name <input name="name" value={name} required onInput={(e) => setName(e.currentTarget.value)} /></label>
      <label>priority <select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value as Priority)}>
        {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
      </select></label>
      <label>memory quota <input name="memoryQuota" placeholder="none, or 2G" value={quota} onInput={(e) => setQuota(e.currentTarget.value)} /></label>
      <button type="submit">Add VM</button>
      {result?.ok && (
        <p class="token" role="status">
          Token of the new VM (shown only now): <code data-token>{result.text}</code>{' '}
          <button type="button" onClick={() => setResult(undefined)}>Dismiss</button>
        </p>
      )}
      {result && !result.ok && <p class="error" role="alert">{result.text}</p>}
    </form>
  );
}

function EditVm({ vm, onDone }: { vm: VmView; onDone: (changed: boolean) => void }) {
  const [priority, setPriority] = useState<Priority>(vm.priority);
  const [weight, setWeight] = useState(String(vm.weight));
  const [quota, setQuota] = useState(quotaText(vm.memoryQuota));
  const [error, setError] = useState('');
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    const patch: VmSettings = {};
    if (priority !== vm.priority) patch.priority = priority;
    if (weight !== String(vm.weight)) patch.weight = Number(weight);
    if (quota.trim() !== quotaText(vm.memoryQuota)) patch.memoryQuota = quota.trim() === '' ? null : quota.trim();
    if (Object.keys(patch).length === 0) return onDone(false);
    try {
      await api.setVm(vm.name, patch);
      onDone(true);
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <form class="inline" onSubmit={(e) => void save(e)} aria-label={`edit VM ${vm.name}`}>
      <label>priority <select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value as Priority)}>
        {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
      </select></label>
      <label>weight <input name="weight" type="number" min={1} value={weight} onInput={(e) => setWeight(e.currentTarget.value)} /></label>
      <label>memory quota <input name="memoryQuota" placeholder="none, or 2G" value={quota} onInput={(e) => setQuota(e.currentTarget.value)} /></label>
      <button type="submit">Save</button>
      <button type="button" onClick={() => onDone(false)}>Cancel</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}

export function VmsPanel({ vms, live, onChanged }: { vms: VmView[]; live: LiveVm[]; onChanged: () => void }) {
  const [editing, setEditing] = useState<string | undefined>();
  return (
    <section id="vms">
      <h2>VMs</h2>
      <AddVm onAdded={onChanged} />
      <table>
        <thead>
          <tr><th>name</th><th>pool</th><th>priority</th><th>weight</th><th>memory quota</th><th>memory used</th><th>sessions</th><th>device time*</th><th>calls*</th><th /></tr>
        </thead>
        <tbody>
          {vms.map((vm) => {
            const l = live.find((x) => x.vm === vm.name);
            return [
              <tr key={vm.name} data-vm={vm.name}>
                <td>{vm.name}</td>
                <td>{vm.pool}</td>
                <td data-field="priority">{vm.priority}</td>
                <td class="num" data-field="weight">{vm.weight}</td>
                <td class="num" data-field="memoryQuota">{vm.memoryQuota === null ? 'none' : bytes(vm.memoryQuota)}</td>
                <td class="num" data-field="memoryUsed">{bytes(l?.memoryUsed ?? 0)}</td>
                <td class="num" data-field="sessions">{l?.sessions ?? 0}</td>
                <td class="num">{ns(l?.deviceTimeNs ?? 0)}</td>
                <td class="num">{l?.calls ?? 0}</td>
                <td><button type="button" onClick={() => setEditing(editing === vm.name ? undefined : vm.name)}>Edit</button></td>
              </tr>,
              editing === vm.name && (
                <tr key={`${vm.name}-edit`} class="editor">
                  <td colSpan={10}>
                    <EditVm vm={vm} onDone={(changed) => { setEditing(undefined); if (changed) onChanged(); }} />
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      <p class="note">* since the mediator started; the Usage panel has the totals of any period.</p>
    </section>
  );
}
