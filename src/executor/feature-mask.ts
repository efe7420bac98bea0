// Device attributes that describe what a program may do with the GPU, answered by what vgpu
// supports rather than by what the host's driver does. The attributes are otherwise passed through
// from the host driver (probe.ts), and frameworks choose their code paths by them: a GPU host
// would tell a guest "you can map host memory / use managed memory / export IPC handles", the guest
// would take that path and fail with CUDA_ERROR_NOT_SUPPORTED where a local GPU works (PyTorch's
// IPC paths). Some entries describe how a feature vgpu does offer behaves instead: managed memory
// is coherent only at launches and synchronisations, as on a GPU without concurrent managed access
// (docs/managed-memory.md). softgpu reports the same (softgpu/api/device_attr.c); this table makes
// a real GPU backend agree.
//
// When vgpu implements one of these features end to end, its entry goes (docs/compatibility.md).

/** Attribute number (CUdevice_attribute in cuda.h) -> the value vgpu reports, and why. */
export const FEATURE_MASK: ReadonlyMap<number, { value: number; name: string; why: string }> = new Map([
  [88, { value: 0, name: 'PAGEABLE_MEMORY_ACCESS', why: 'the device cannot reach guest memory' }],
  [89, { value: 0, name: 'CONCURRENT_MANAGED_ACCESS', why: 'managed memory is coherent at launches and synchronisations only (docs/managed-memory.md)' }],
  [91, { value: 0, name: 'CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM', why: 'registered mapped memory gets a device address of its own (docs/managed-memory.md)' }],
  [96, { value: 0, name: 'COOPERATIVE_MULTI_DEVICE_LAUNCH', why: 'cuLaunchCooperativeKernelMultiDevice is not remoted' }],
  [100, { value: 0, name: 'PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES', why: 'the device cannot reach guest memory' }],
  [101, { value: 0, name: 'DIRECT_MANAGED_MEM_ACCESS_FROM_HOST', why: 'the host reads its own copy of managed memory, not the device\'s (docs/managed-memory.md)' }],
  [103, { value: 0, name: 'HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED', why: "NVIDIA's shareable descriptors cannot be carried from one executor to another (softgpu's can: docs/ipc.md)" }],
  [116, { value: 0, name: 'GPU_DIRECT_RDMA_SUPPORTED', why: 'no RDMA into a remoted device' }],
  [119, { value: 0, name: 'MEMPOOL_SUPPORTED_HANDLE_TYPES', why: 'memory pool IPC is not remoted' }],
  [124, { value: 0, name: 'DMA_BUF_SUPPORTED', why: 'dma-buf sharing is not remoted' }],
  [128, { value: 0, name: 'HANDLE_TYPE_FABRIC_SUPPORTED', why: 'shareable handles are not remoted' }],
  [132, { value: 0, name: 'MULTICAST_SUPPORTED', why: 'multicast objects are not remoted' }],
  [141, { value: 0, name: 'HOST_NUMA_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED', why: 'the VMM API takes device locations only' }],
  [143, { value: 0, name: 'HOST_NUMA_MULTINODE_IPC_SUPPORTED', why: 'IPC reaches only the processes of one VM, never other nodes' }],
  [145, { value: 0, name: 'HOST_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED', why: 'the VMM API takes device locations only' }],
  [146, { value: 0, name: 'HOST_ALLOC_DMA_BUF_SUPPORTED', why: 'dma-buf sharing is not remoted' }],
]);

/** The attributes as a guest should see them: the driver's, with the table above applied. */
export function maskFeatures(attributes: readonly number[]): number[] {
  return attributes.map((v, a) => FEATURE_MASK.get(a)?.value ?? v);
}
