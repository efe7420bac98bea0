// Hand-written executor handlers of the spec's VG_CUSTOM entries, one module per family.
export * from './context.js';
export {
  cuMemcpyHtoD_v2,
  cuMemcpyHtoD_v2_ptds,
  cuMemcpyHtoDAsync_v2,
  cuMemcpyHtoDAsync_v2_ptsz,
  cuMemcpyDtoH_v2,
  cuMemcpyDtoH_v2_ptds,
  cuMemcpyDtoHAsync_v2,
  cuMemcpyDtoHAsync_v2_ptsz,
  cuMemGetInfo_v2,
} from './memory.js';
export * from './module.js';
export * from './launch.js';
export * from './graph.js';
export * from './graph-edit.js';
export * from './mempool.js';
export * from './pointer.js';
export * from './coherent.js';
export * from './vmm.js';
export * from './ipc.js';
export * from './shm.js';
export * from './texture.js';
