// The guest image recipe (guest/image/Dockerfile) builds a root filesystem in which a CUDA program
// reaches the mediator. Docker is not needed: the test carries out the Dockerfile's own
// instructions, read from the file, on a minimal Debian tree of the base image's release (built
// once by test/guest-tree/build-tree.sh into the cache):
//  - each stage is an overlay of that tree (so the cache stays untouched), with /proc, /dev and a
//    fresh /tmp, as a build container has;
//  - ARG gives its default to the RUN steps' environment; COPY copies from the repository, COPY
//    --from from an earlier stage's tree; RUN runs with /bin/sh -c inside the stage (chroot).
// The resulting tree then runs test/programs/driver_api.c with an empty environment: it finds
// vgpu's libcuda.so.1 through the tree's loader cache and the mediator through the guest.conf the
// recipe wrote, on the host's socket folder bind-mounted at /run/vgpu as `docker run -v` would.
// Everything happens in a private mount namespace, so a failed run leaves no mount behind.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { getTree } from '../helpers/guest-tree.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram } from '../helpers/programs.js';
import { ROOT } from '../helpers/paths.js';
import { startCollect } from '../helpers/spawn.js';

const DOCKERFILE = join(ROOT, 'guest/image/Dockerfile');

interface Instruction { op: string; args: string }
interface Stage { base: string; name?: string; steps: Instruction[] }

/** The Dockerfile's instructions by stage (continuation lines joined, comments dropped), and the
 * global ARGs before the first FROM. */
function parseDockerfile(text: string): { globals: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `not an instruction: ${line}`);
    const [, op, args] = m as unknown as [string, string, string];
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(f, `FROM ${args}`);
      stages.push({ base: f[1]!, ...(f[2] ? { name: f[2] } : {}), steps: [] });
    } else if (stages.length === 0) {
      assert.equal(op, 'ARG', 'only ARG comes before the first FROM');
      const [k, v = ''] = args.split('=', 2);
      globals.set(k!, v);
    } else {
      stages.at(-1)!.steps.push({ op, args });
    }
  }
  return { globals, stages };
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * The shell script that builds every stage as an overlay under $work/N and leaves the last
 * stage's tree at $work/final. Only what the recipe uses is supported; anything else fails here.
 */
function buildScript(stages: Stage[]): string {
  const out: string[] = [];
  stages.forEach((stage, i) => {
    const root = `$work/${i}/root`;
    out.push(`mkdir -p $work/${i}/up $work/${i}/wk ${root}`,
      `mount -t overlay overlay -o lowerdir=$tree,upperdir=$work/${i}/up,workdir=$work/${i}/wk ${root}`,
      `mount -t proc proc ${root}/proc`, `mount --rbind /dev ${root}/dev`, `mount -t tmpfs -o mode=1777 tmpfs ${root}/tmp`);
    const env = new Map<string, string>();
    for (const step of stage.steps) {
      if (step.op === 'ARG') {
        const [k, v = ''] = step.args.split('=', 2);
        env.set(k!, v);
      } else if (step.op === 'COPY') {
        const from = /^--from=(\S+)\s+(.*)$/.exec(step.args);
        const words = (from ? from[2]! : step.args).split(/\s+/);
        const dest = words.pop()!;
        if (from) {
          const src = stages.findIndex((s) => s.name === from[1]);
          assert.ok(src >= 0 && src < i, `COPY --from=${from[1]}: no earlier stage of that name`);
          assert.equal(words.length, 1);
          // COPY of a folder copies its content into dest, merging with what is there.
          out.push(`cp -a $work/${src}/root${words[0]!.replace(/\/?$/, '/')}. ${root}${dest}`);
        } else {
          assert.ok(dest.endsWith('/') || words.length === 1, `COPY of several files goes to a folder: ${step.args}`);
          out.push(`mkdir -p ${root}${dest.endsWith('/') ? dest : dirname(dest)}`);
          for (const w of words) out.push(`cp -a ${q(join(ROOT, w))} ${root}${dest}`);
        }
      } else if (step.op === 'RUN') {
        const vars = [...env].map(([k, v]) => q(`${k}=${v}`)).join(' ');
        out.push(`chroot ${root} /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ${vars} /bin/sh -c ${q(step.args)}`);
      } else {
        assert.fail(`the test does not carry out ${step.op}; teach it, or keep the recipe to FROM, ARG, COPY and RUN`);
      }
    }
  });
  out.push(`ln -s ${stages.length - 1}/root $work/final`);
  return out.join('\n');
}

const recipe = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const base = recipe.globals.get('BASE') ?? '';
const suite = /^debian:([a-z]+)(?:-slim)?$/.exec(base)?.[1];
const tree = suite ? getTree({ suite, packages: ['libssl3'], minFreeGb: 1 }) : { skip: `BASE ${base} is not a Debian image the test can build` };
const skip = 'skip' in tree ? tree.skip : false;

let m: RunningMediator;
let work: string;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'vgpu-image-'));
  m = await startMediator();
});

after(async () => {
  await m?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the recipe uses guest/install.sh --root /rootfs in a stage of its own', () => {
  const [install, final] = [recipe.stages[0], recipe.stages.at(-1)];
  assert.equal(recipe.stages.length, 2);
  assert.match(install?.steps.find((s) => s.op === 'RUN')?.args ?? '', /guest\/install\.sh --root \/rootfs --server "\$VGPU_SERVER"/);
  assert.deepEqual(final?.steps.map((s) => `${s.op} ${s.args}`), [`COPY --from=${install!.name} /rootfs/ /`, 'RUN ldconfig']);
});

test('the image built by the recipe runs a CUDA program against the mediator', { skip, timeout: 600_000 }, async (t) => {
  const root = 'root' in tree ? tree.root : '';
  const prog = buildProgram('driver_api');
  const sockDir = dirname(m.socket);
  const script = `set -e
tree=$1 work=$2 sock=$3 prog=$4
mount --make-rprivate /
${buildScript(recipe.stages)}
f=$work/final
mkdir -p $f/run/vgpu $f/opt/vgpu-test
mount --bind "$sock" $f/run/vgpu
cp "$prog" $f/opt/vgpu-test/driver_api
echo "--- loader"
chroot $f /sbin/ldconfig -p | grep -E 'lib(cuda|nvidia-ml)\\.so\\.1 '
echo "--- guest.conf"
grep -v '^#' $f/etc/vgpu/guest.conf
echo "--- installed-files"
grep -v '^#' $f/etc/vgpu/installed-files
echo "--- doctor"
chroot $f /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp vgpu-doctor && echo "doctor: passed" || echo "doctor: failed ($?)"
echo "--- run"
exec chroot $f /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp /opt/vgpu-test/driver_api
`;
  const r = await startCollect('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', root, work, sockDir, prog], process.env, 300_000, 'the image build and run').done;
  const [, loader = '', conf = '', installed = '', doctor = '', run = ''] = r.stdout.split(/^--- \S+\n/m);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  // The loader cache of the image lists ours for both sonames (the tree has no NVIDIA driver).
  assert.match(loader, /libcuda\.so\.1 \(.*\) => \/usr\/local\/lib\/vgpu\/libcuda\.so\.1/);
  assert.match(loader, /libnvidia-ml\.so\.1 \(.*\) => \/usr\/local\/lib\/vgpu\/libnvidia-ml\.so\.1/);
  assert.equal(conf.trim(), 'server = unix:/run/vgpu/vgpu.sock');
  assert.deepEqual(installed.trim().split('\n'), ['/usr/local/lib/vgpu', '/etc/vgpu', '/usr/local/bin/vgpu-doctor', '/usr/local/lib/vgpu/libcuda.so.1', '/usr/local/lib/vgpu/libcuda.so',
    '/usr/local/lib/vgpu/libnvidia-ml.so.1', '/usr/local/lib/vgpu/libnvidia-ml.so', '/etc/ld.so.conf.d/00-vgpu.conf', '/etc/vgpu/guest.conf']);
  // The guest check the recipe installed passes in the image (docs/guest.md).
  assert.match(doctor, /^doctor: passed$/m, doctor);
  t.diagnostic(`driver_api in the image: ${run.split('\n').filter((l) => l.startsWith('ok - ')).length} checks passed`);
  assert.match(run, /^ok - /m);
  assert.doesNotMatch(run, /^not ok/m);
  // The mediator served it: a session of its default VM came and went.
  assert.ok(m.logs.some((l) => l.vm === 'local' && typeof l.msg === 'string' && /session/.test(l.msg)), 'the mediator logged a session of the default VM');
});
