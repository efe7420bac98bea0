// A GPU host's driver says its device can map host memory, use managed memory, shareable handles
// and IPC; vgpu remotes none of those, so the device table a guest gets must say so (src/executor/feature-mask.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { probe } from '../../src/executor/probe.js';
import { FEATURE_MASK } from '../../src/executor/feature-mask.js';
import { driver } from '../helpers/fake-driver.js';

test('feature attributes a real GPU reports are masked to what vgpu remotes; the rest pass through', () => {
  const d = driver({
    cuDeviceGetCount: (o) => ((o as Buffer).writeInt32LE(1, 0), 0),
    cuDeviceTotalMem_v2: (o) => ((o as Buffer).writeBigUInt64LE(80n << 30n, 0), 0),
    cuDriverGetVersion: (o) => ((o as Buffer).writeInt32LE(13000, 0), 0),
    // Every attribute of this "H100" is 1, as the feature flags of a real one are.
    cuDeviceGetAttribute: (o) => ((o as Buffer).writeInt32LE(1, 0), 0),
  });
  const [dev] = probe(d).devices;
  assert.ok(dev);
  for (const [a, m] of FEATURE_MASK) assert.equal(dev.attributes[a], m.value, `${m.name} (${a})`);
  // Limits and capabilities vgpu passes through stay the driver's.
  assert.equal(dev.attributes[1], 1, 'MAX_THREADS_PER_BLOCK');
  assert.equal(dev.attributes[41], 1, 'UNIFIED_ADDRESSING');
  assert.equal(dev.attributes[115], 1, 'MEMORY_POOLS_SUPPORTED');
  assert.equal(dev.attributes[95], 1, 'COOPERATIVE_LAUNCH: cooperative launches are remoted');
  assert.equal(dev.attributes[102], 1, 'VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED: the VMM API is remoted');
});
