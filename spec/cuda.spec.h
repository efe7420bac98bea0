/*
 * The CUDA driver API as vgpu implements it: the single source of truth for the generated guest
 * stubs, executor dispatch, FFI declarations and the compatibility table. Language:
 * docs/spec-language.md. Wire ids are stable forever; retired ids are listed at the end and never
 * reused. Names of the real driver that are not listed here are exported as unsupported stubs.
 */
#include "vgspec.h"
#include <cuda.h>

/* ---- initialisation and version (guest-local) ------------------------------------------------ */
VG_LOCAL CUresult cuInit(unsigned int Flags);
VG_LOCAL CUresult cuDriverGetVersion(int *driverVersion);
VG_LOCAL CUresult cuGetErrorName(CUresult error, const char **pStr);
VG_LOCAL CUresult cuGetErrorString(CUresult error, const char **pStr);
VG_LOCAL CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
VG_LOCAL CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus);
VG_LOCAL CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId);

/* ---- devices: answered from the handshake's device table ------------------------------------- */
VG_LOCAL CUresult cuDeviceGet(CUdevice *device, int ordinal);
VG_LOCAL CUresult cuDeviceGetCount(int *count);
VG_LOCAL CUresult cuDeviceGetName(char *name, int len, CUdevice dev);
VG_LOCAL CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev);
VG_LOCAL CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev);
VG_LOCAL CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev);
VG_LOCAL CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
VG_LOCAL CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev);
VG_LOCAL CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev);
VG_LOCAL CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId);
VG_LOCAL CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev);
VG_LOCAL CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice dev);

/* ---- contexts ---------------------------------------------------------------------------------
 * The current context is per guest thread and lives in the guest; every CALL carries the caller's
 * current context, which the executor makes current before calling the driver. */
VG_LOCAL CUresult cuCtxGetCurrent(CUcontext *pctx);
VG_LOCAL CUresult cuCtxSetCurrent(CUcontext ctx);
VG_LOCAL CUresult cuCtxPushCurrent_v2(CUcontext ctx);
VG_LOCAL CUresult cuCtxPopCurrent_v2(CUcontext *pctx);
VG_LOCAL CUresult cuCtxPushCurrent(CUcontext ctx);
VG_LOCAL CUresult cuCtxPopCurrent(CUcontext *pctx);
VG_LOCAL CUresult cuCtxGetDevice(CUdevice *device);
VG_LOCAL CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx);
VG_LOCAL CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version);
VG_LOCAL CUresult cuCtxGetFlags(unsigned int *flags);
VG_LOCAL CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active);

VG_CUSTOM(0x0101) CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev);
VG_CUSTOM(0x0102) CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev);
VG_CUSTOM(0x0103) CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev);
VG_CUSTOM(0x0104) CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags);
VG_CUSTOM(0x0110) CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
VG_CUSTOM_ALIAS(0x0110) CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, unsigned int flags, CUdevice dev);
VG_CUSTOM_ALIAS(0x0110) CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags, CUdevice dev);
VG_CUSTOM(0x0111) CUresult cuCtxDestroy_v2(CUcontext ctx);
/* Legacy ABIs still exported for old binaries and for libraries that dlsym them (cuBLASLt). */
VG_CUSTOM_ALIAS(0x0102) CUresult cuDevicePrimaryCtxRelease(CUdevice dev);
VG_CUSTOM_ALIAS(0x0103) CUresult cuDevicePrimaryCtxReset(CUdevice dev);
VG_CUSTOM_ALIAS(0x0104) CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags);
VG_CUSTOM_ALIAS(0x0110) CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev);
VG_CUSTOM_ALIAS(0x0111) CUresult cuCtxDestroy(CUcontext ctx);

VG_REMOTE(0x0130) CUresult cuCtxGetStreamPriorityRange(VG_OUT VG_OPTIONAL int *leastPriority, VG_OUT VG_OPTIONAL int *greatestPriority);
VG_REMOTE(0x0131) VG_SYNC CUresult cuCtxSynchronize(void);
VG_REMOTE(0x0132) VG_SYNC CUresult cuCtxSynchronize_v2(VG_NULLABLE CUcontext ctx);
VG_REMOTE(0x0133) CUresult cuCtxGetLimit(VG_OUT size_t *pvalue, CUlimit limit);
VG_REMOTE(0x0134) CUresult cuCtxSetLimit(CUlimit limit, size_t value);
/* Peer access between the session's vGPUs, which share one executor: its driver (softgpu, or the
 * host's GPUs behind the vGPUs) says whether a kernel on one can reach the other's memory, and
 * keeps the access enabled per context (docs/pointers.md, "Peer access"). */
VG_REMOTE(0x0138) CUresult cuDeviceCanAccessPeer(VG_OUT int *canAccessPeer, CUdevice dev, CUdevice peerDev);
VG_REMOTE(0x0139) CUresult cuDeviceGetP2PAttribute(VG_OUT int *value, CUdevice_P2PAttribute attrib, CUdevice srcDevice, CUdevice dstDevice);
VG_REMOTE(0x013a) CUresult cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int Flags);
VG_REMOTE(0x013b) CUresult cuCtxDisablePeerAccess(CUcontext peerContext);

/* ---- memory ---------------------------------------------------------------------------------- */
VG_REMOTE(0x0210) CUresult cuMemAlloc_v2(VG_OUT VG_ALLOC(bytesize) CUdeviceptr *dptr, size_t bytesize);
VG_REMOTE(0x0211) CUresult cuMemFree_v2(VG_FREE CUdeviceptr dptr);
/* With a VM quota, the quota is the total and the VM's use (all of its sessions) is what is used. */
VG_CUSTOM(0x0212) CUresult cuMemGetInfo_v2(size_t *free, size_t *total);
/* The guest answers for its own page-locked host memory and forwards the rest (guest/cuda/impl/pointer.c). */
VG_CUSTOM(0x0213) CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr);
/* The pitch comes from the driver, so the executor checks the quota against the smallest possible
 * size first and again against the real one (src/executor/custom/mempool.ts). */
VG_CUSTOM(0x0214) CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height, unsigned int ElementSizeBytes);

/* Stream-ordered allocation. Allocations count against the quota when they are made and stop
 * counting when their free is enqueued (the executor cannot observe the stream reaching it).
 * Pools are the host driver's; a pool has one id per session, so the guest's handles compare equal.
 * Pool properties and attribute values are typed per field/attribute: hand-written. */
VG_REMOTE(0x0240) CUresult cuMemAllocAsync(VG_OUT VG_ALLOC(bytesize) CUdeviceptr *dptr, size_t bytesize, CUstream hStream);
VG_REMOTE(0x0241) CUresult cuMemAllocAsync_ptsz(VG_OUT VG_ALLOC(bytesize) CUdeviceptr *dptr, size_t bytesize, CUstream hStream);
VG_REMOTE(0x0242) CUresult cuMemFreeAsync(VG_FREE CUdeviceptr dptr, CUstream hStream);
VG_REMOTE(0x0243) CUresult cuMemFreeAsync_ptsz(VG_FREE CUdeviceptr dptr, CUstream hStream);
VG_REMOTE(0x0244) CUresult cuMemAllocFromPoolAsync(VG_OUT VG_ALLOC(bytesize) CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream);
VG_REMOTE(0x0245) CUresult cuMemAllocFromPoolAsync_ptsz(VG_OUT VG_ALLOC(bytesize) CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream);
VG_REMOTE(0x0248) CUresult cuDeviceGetDefaultMemPool(VG_OUT VG_NEW CUmemoryPool *pool_out, CUdevice dev);
VG_REMOTE(0x0249) CUresult cuDeviceGetMemPool(VG_OUT VG_NEW CUmemoryPool *pool, CUdevice dev);
VG_REMOTE(0x024a) CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool);
VG_CUSTOM(0x024b) CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps);
VG_REMOTE(0x024c) CUresult cuMemPoolDestroy(VG_DESTROY CUmemoryPool pool);
VG_CUSTOM(0x024d) CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value);
VG_CUSTOM(0x024e) CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value);
VG_REMOTE(0x024f) CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep);

/* Virtual memory management (src/executor/custom/vmm.ts). Physical allocations (cuMemCreate) count
 * toward the quota like cuMemAlloc until the driver frees them (released and unmapped);
 * reservations do not. A session maps only its own handles into its own reservations, and its
 * mappings become ranges its copies and kernels may use. Handles are session ids, never the
 * driver's. Properties and access descriptors are structs: hand-written. Shareable handles are
 * file descriptors within one VM (docs/ipc.md): the guest's descriptor holds the mediator's token
 * for the export, which only a session of the same VM can import. */
VG_CUSTOM(0x0250) CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr, unsigned long long flags);
VG_CUSTOM(0x0251) CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size);
VG_CUSTOM(0x0252) CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop, unsigned long long flags);
VG_CUSTOM(0x0253) CUresult cuMemRelease(CUmemGenericAllocationHandle handle);
VG_CUSTOM(0x0254) CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle, unsigned long long flags);
VG_CUSTOM(0x0255) CUresult cuMemUnmap(CUdeviceptr ptr, size_t size);
VG_CUSTOM(0x0256) CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count);
VG_CUSTOM(0x0257) CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr);
VG_CUSTOM(0x0258) CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop, CUmemAllocationGranularity_flags option);
VG_CUSTOM(0x0259) CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle);
VG_CUSTOM(0x025a) CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr);
VG_CUSTOM(0x0260) CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle, CUmemAllocationHandleType handleType, unsigned long long flags);
VG_CUSTOM(0x0261) CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle, CUmemAllocationHandleType shHandleType);

/* CUDA IPC between processes of one VM (src/executor/custom/ipc.ts, docs/ipc.md). The guest's
 * handles are the mediator's tokens, never the driver's bytes: an open is looked up in the VM's
 * table of exports, so a handle of another VM, or a forged one, is CUDA_ERROR_INVALID_VALUE.
 * Opened memory counts toward the quota once, as the exporter's. Handles are 64-byte structs
 * passed by value: hand-written. */
VG_CUSTOM(0x025b) CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr);
VG_CUSTOM(0x025c) CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags);
VG_CUSTOM_ALIAS(0x025c) CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags);
VG_CUSTOM(0x025d) CUresult cuIpcCloseMemHandle(CUdeviceptr dptr);
VG_CUSTOM(0x025e) CUresult cuIpcGetEventHandle(CUipcEventHandle *pHandle, CUevent event);
VG_CUSTOM(0x025f) CUresult cuIpcOpenEventHandle(CUevent *phEvent, CUipcEventHandle handle);

/* Host memory is the guest's own: pinned allocations are ordinary page-aligned guest memory. */
VG_LOCAL CUresult cuMemAllocHost_v2(void **pp, size_t bytesize);
VG_LOCAL CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags);
VG_LOCAL CUresult cuMemFreeHost(void *p);
VG_LOCAL CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p);
VG_LOCAL CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags);
VG_LOCAL CUresult cuMemHostUnregister(void *p);

/* Managed and mapped page-locked memory (docs/managed-memory.md): a device allocation of the
 * session (counted like cuMemAlloc) plus the guest's copy at the same address, kept coherent by the
 * guest around work submission and synchronisation (guest/cuda/impl/coherent.c). Advice, prefetch
 * locations and range attributes are the guest's (guest/cuda/impl/managed.c); the vGPU has no
 * concurrent managed access, so a prefetch to a GPU is refused as on such a device. */
VG_LOCAL CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags);
VG_LOCAL CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags);
VG_LOCAL CUresult cuMemHostGetDevicePointer(unsigned int *pdptr, void *p, unsigned int Flags); /* CUdeviceptr_v1, which only the legacy ABI of cuda.h names */
VG_LOCAL CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream);
VG_LOCAL CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream);
VG_LOCAL CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location, unsigned int flags, CUstream hStream);
VG_LOCAL CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count, CUmemLocation location, unsigned int flags, CUstream hStream);
VG_LOCAL CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device);
VG_LOCAL CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUmemLocation location);
VG_LOCAL CUresult cuMemRangeGetAttribute(void *data, size_t dataSize, CUmem_range_attribute attribute, CUdeviceptr devPtr, size_t count);
VG_LOCAL CUresult cuStreamAttachMemAsync(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags);
VG_LOCAL CUresult cuStreamAttachMemAsync_ptsz(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags);
VG_LOCAL CUresult cuMemRangeGetAttributes(void **data, size_t *dataSizes, CUmem_range_attribute *attributes, size_t numAttributes, CUdeviceptr devPtr, size_t count);
/* Copies between contexts of the session (guest/cuda/impl/peer.c): its vGPUs share one executor
 * and one unified address space, so they are device-to-device and 3D copies. */
VG_LOCAL CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext, size_t ByteCount);
VG_LOCAL CUresult cuMemcpyPeer_ptds(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext, size_t ByteCount);
VG_LOCAL CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext, size_t ByteCount, CUstream hStream);
VG_LOCAL CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext, size_t ByteCount, CUstream hStream);
VG_LOCAL CUresult cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *pCopy);
VG_LOCAL CUresult cuMemcpy3DPeer_ptds(const CUDA_MEMCPY3D_PEER *pCopy);
VG_LOCAL CUresult cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream);
VG_LOCAL CUresult cuMemcpy3DPeerAsync_ptsz(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream);

/* Pointer attributes and unified addressing (docs/pointers.md): the guest answers for its own host
 * memory and asks the executor about the rest (vgPointerQuery), which answers only for the
 * session's device allocations; anything else is an unknown host pointer. cuMemcpy and
 * cuMemcpyAsync take their direction from the same classification. */
VG_LOCAL CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr);
VG_LOCAL CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes, void **data, CUdeviceptr ptr);
/* Only CU_POINTER_ATTRIBUTE_SYNC_MEMOPS can be set, and only on the session's device memory
 * (managed memory included): the executor passes it to the driver (src/executor/custom/pointer.ts). */
VG_CUSTOM(0x0215) CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute, CUdeviceptr ptr);
VG_LOCAL CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount);
VG_LOCAL CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount);
VG_LOCAL CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream);
VG_LOCAL CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream);

/* Host<->device copies are chunked by hand (docs/protocol.md, Bulk data). */
VG_CUSTOM(0x0200) VG_SYNC CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);
VG_CUSTOM(0x0201) VG_SYNC CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);
VG_CUSTOM(0x0202) VG_ASYNC CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream);
VG_CUSTOM(0x0203) VG_SYNC CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
VG_CUSTOM(0x0204) VG_SYNC CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);
VG_CUSTOM(0x0205) VG_SYNC CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);
VG_CUSTOM(0x0206) VG_ASYNC CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream);
VG_CUSTOM(0x0207) VG_SYNC CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);

/* 2D and 3D copies, composed in the guest from the linear copies above and below
 * (guest/cuda/impl/memcpy2d.c): the executor range-checks their rows as it does any copy. */
VG_LOCAL CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy);
VG_LOCAL CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy);
VG_LOCAL CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy);
VG_LOCAL CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy);
VG_LOCAL CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream);
VG_LOCAL CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream);
VG_LOCAL CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy);
VG_LOCAL CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy);
VG_LOCAL CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream);
VG_LOCAL CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream);

VG_REMOTE(0x0220) VG_SYNC VG_WORK CUresult cuMemcpyDtoD_v2(VG_RANGE(ByteCount) CUdeviceptr dstDevice, VG_RANGE(ByteCount) CUdeviceptr srcDevice, size_t ByteCount);
VG_REMOTE(0x0221) VG_ASYNC VG_WORK CUresult cuMemcpyDtoDAsync_v2(VG_RANGE(ByteCount) CUdeviceptr dstDevice, VG_RANGE(ByteCount) CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
VG_REMOTE(0x0222) VG_SYNC VG_WORK CUresult cuMemcpyDtoD_v2_ptds(VG_RANGE(ByteCount) CUdeviceptr dstDevice, VG_RANGE(ByteCount) CUdeviceptr srcDevice, size_t ByteCount);
VG_REMOTE(0x0223) VG_ASYNC VG_WORK CUresult cuMemcpyDtoDAsync_v2_ptsz(VG_RANGE(ByteCount) CUdeviceptr dstDevice, VG_RANGE(ByteCount) CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);

VG_REMOTE(0x0230) VG_SYNC VG_WORK CUresult cuMemsetD8_v2(VG_RANGE(N) CUdeviceptr dstDevice, unsigned char uc, size_t N);
VG_REMOTE(0x0231) VG_SYNC VG_WORK CUresult cuMemsetD16_v2(VG_RANGE(N * 2) CUdeviceptr dstDevice, unsigned short us, size_t N);
VG_REMOTE(0x0232) VG_SYNC VG_WORK CUresult cuMemsetD32_v2(VG_RANGE(N * 4) CUdeviceptr dstDevice, unsigned int ui, size_t N);
VG_REMOTE(0x0233) VG_ASYNC VG_WORK CUresult cuMemsetD8Async(VG_RANGE(N) CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
VG_REMOTE(0x0234) VG_ASYNC VG_WORK CUresult cuMemsetD16Async(VG_RANGE(N * 2) CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream);
VG_REMOTE(0x0235) VG_ASYNC VG_WORK CUresult cuMemsetD32Async(VG_RANGE(N * 4) CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream);
VG_REMOTE(0x0236) VG_SYNC VG_WORK CUresult cuMemsetD8_v2_ptds(VG_RANGE(N) CUdeviceptr dstDevice, unsigned char uc, size_t N);
VG_REMOTE(0x0237) VG_SYNC VG_WORK CUresult cuMemsetD16_v2_ptds(VG_RANGE(N * 2) CUdeviceptr dstDevice, unsigned short us, size_t N);
VG_REMOTE(0x0238) VG_SYNC VG_WORK CUresult cuMemsetD32_v2_ptds(VG_RANGE(N * 4) CUdeviceptr dstDevice, unsigned int ui, size_t N);
VG_REMOTE(0x0239) VG_ASYNC VG_WORK CUresult cuMemsetD8Async_ptsz(VG_RANGE(N) CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
VG_REMOTE(0x023a) VG_ASYNC VG_WORK CUresult cuMemsetD16Async_ptsz(VG_RANGE(N * 2) CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream);
VG_REMOTE(0x023b) VG_ASYNC VG_WORK CUresult cuMemsetD32Async_ptsz(VG_RANGE(N * 4) CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream);

/* ---- streams --------------------------------------------------------------------------------- */
VG_REMOTE(0x0300) CUresult cuStreamCreate(VG_OUT VG_NEW CUstream *phStream, unsigned int Flags);
VG_REMOTE(0x0301) CUresult cuStreamCreateWithPriority(VG_OUT VG_NEW CUstream *phStream, unsigned int flags, int priority);
VG_REMOTE(0x0302) CUresult cuStreamDestroy_v2(VG_DESTROY CUstream hStream);
VG_REMOTE(0x0303) VG_SYNC CUresult cuStreamSynchronize(CUstream hStream);
VG_REMOTE(0x0304) VG_SYNC CUresult cuStreamSynchronize_ptsz(CUstream hStream);
VG_REMOTE(0x0305) VG_SYNC CUresult cuStreamQuery(CUstream hStream);
VG_REMOTE(0x0306) VG_SYNC CUresult cuStreamQuery_ptsz(CUstream hStream);
VG_REMOTE(0x0307) VG_ASYNC CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags);
VG_REMOTE(0x0308) VG_ASYNC CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags);
VG_REMOTE(0x0309) CUresult cuStreamGetPriority(CUstream hStream, VG_OUT int *priority);
VG_REMOTE(0x030a) CUresult cuStreamGetPriority_ptsz(CUstream hStream, VG_OUT int *priority);
VG_REMOTE(0x030b) CUresult cuStreamGetFlags(CUstream hStream, VG_OUT unsigned int *flags);
VG_REMOTE(0x030c) CUresult cuStreamGetFlags_ptsz(CUstream hStream, VG_OUT unsigned int *flags);
VG_REMOTE(0x030d) CUresult cuStreamIsCapturing(CUstream hStream, VG_OUT CUstreamCaptureStatus *captureStatus);
VG_REMOTE(0x030e) CUresult cuStreamIsCapturing_ptsz(CUstream hStream, VG_OUT CUstreamCaptureStatus *captureStatus);
/* Host functions run in the guest: the stream's earlier work is waited for, then the function is
 * called before the call returns, so later work on the stream starts after it (guest/cuda/impl/hostfunc.c). */
VG_LOCAL CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData);
VG_LOCAL CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData);
VG_LOCAL CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags);
VG_LOCAL CUresult cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags);

/* ---- events ---------------------------------------------------------------------------------- */
VG_REMOTE(0x0400) CUresult cuEventCreate(VG_OUT VG_NEW CUevent *phEvent, unsigned int Flags);
VG_REMOTE(0x0401) VG_ASYNC CUresult cuEventRecord(CUevent hEvent, CUstream hStream);
VG_REMOTE(0x0402) VG_ASYNC CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream);
VG_REMOTE(0x0403) VG_ASYNC CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags);
VG_REMOTE(0x0404) VG_ASYNC CUresult cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags);
VG_REMOTE(0x0405) VG_SYNC CUresult cuEventSynchronize(CUevent hEvent);
VG_REMOTE(0x0406) VG_SYNC CUresult cuEventQuery(CUevent hEvent);
VG_REMOTE(0x0407) CUresult cuEventElapsedTime(VG_OUT float *pMilliseconds, CUevent hStart, CUevent hEnd);
VG_REMOTE(0x0408) CUresult cuEventElapsedTime_v2(VG_OUT float *pMilliseconds, CUevent hStart, CUevent hEnd);
VG_REMOTE(0x0409) CUresult cuEventDestroy_v2(VG_DESTROY CUevent hEvent);

/* ---- modules, libraries, kernels --------------------------------------------------------------
 * Images cross the connection once: the guest names them by SHA-256 and uploads only those the
 * host does not have (vgImageHave/vgImagePut). A kernel or function lookup returns its parameter
 * layout, which the guest keeps, so launches (fire-and-forget) and cuFunc/KernelGetParamInfo need
 * no further round trip. */
VG_LOCAL CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode);
VG_CUSTOM(0x0500) CUresult cuModuleLoadData(CUmodule *module, const void *image);
VG_CUSTOM_ALIAS(0x0500) CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions, CUjit_option *options, void **optionValues);
VG_CUSTOM_ALIAS(0x0500) CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin);
VG_REMOTE(0x0501) CUresult cuModuleUnload(VG_DESTROY CUmodule hmod);
VG_CUSTOM(0x0502) CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name);
VG_CUSTOM(0x0503) CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name);
VG_CUSTOM(0x0508) CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions, void **jitOptionsValues, unsigned int numJitOptions, CUlibraryOption *libraryOptions, void **libraryOptionValues, unsigned int numLibraryOptions);
VG_REMOTE(0x0509) CUresult cuLibraryUnload(VG_DESTROY CUlibrary library);
VG_CUSTOM(0x050a) CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name);
VG_CUSTOM(0x050b) CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name);
VG_REMOTE(0x050c) CUresult cuLibraryGetModule(VG_OUT VG_NEW CUmodule *pMod, CUlibrary library);
VG_CUSTOM(0x050d) CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel);
VG_CUSTOM(0x050e) CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name);
VG_LOCAL CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize);
VG_LOCAL CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize);
VG_REMOTE(0x0510) CUresult cuFuncGetAttribute(VG_OUT int *pi, CUfunction_attribute attrib, CUfunction hfunc);
VG_REMOTE(0x0511) CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value);
VG_REMOTE(0x0512) CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config);
VG_REMOTE(0x0513) CUresult cuKernelGetAttribute(VG_OUT int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev);
VG_REMOTE(0x0514) CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev);
VG_REMOTE(0x0515) CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev);
VG_REMOTE(0x0518) CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(VG_OUT int *numBlocks, CUfunction func, int blockSize, size_t dynamicSMemSize);
VG_REMOTE(0x0519) CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(VG_OUT int *numBlocks, CUfunction func, int blockSize, size_t dynamicSMemSize, unsigned int flags);
VG_REMOTE(0x051a) CUresult cuOccupancyAvailableDynamicSMemPerBlock(VG_OUT size_t *dynamicSmemSize, CUfunction func, int numBlocks, int blockSize);
/* The launch configuration travels like cuLaunchKernelEx's (without parameters). */
VG_CUSTOM(0x051b) CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func, const CUlaunchConfig *config);

/* Launches: the guest packs kernelParams (or the `extra` buffer) per the layout it got with the
 * lookup, and sends one fire-and-forget frame. */
VG_CUSTOM(0x0520) VG_ASYNC CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra);
VG_CUSTOM(0x0521) VG_ASYNC CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra);
VG_CUSTOM(0x0522) VG_ASYNC CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra);
VG_CUSTOM(0x0523) VG_ASYNC CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra);
/* Sent as cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_COOPERATIVE, after the guest checked that the
 * grid can be resident at once (guest/cuda/impl/launch.c). */
VG_CUSTOM_ALIAS(0x0522) VG_ASYNC CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams);
VG_CUSTOM_ALIAS(0x0523) VG_ASYNC CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams);

/* ---- stream capture and graphs -----------------------------------------------------------------
 * Capture happens in the host driver: captured launches and copies are ordinary calls on a
 * capturing stream. The dependency outputs of cuStreamGetCaptureInfo_v2/_v3 come back empty
 * (guest/cuda/impl/graph.c); nodes are reached through the introspection calls below. */
VG_REMOTE(0x0600) VG_CAPTURE_BEGIN CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);
VG_REMOTE(0x0601) VG_CAPTURE_BEGIN CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode);
VG_REMOTE(0x0602) VG_CAPTURE_END CUresult cuStreamEndCapture(CUstream hStream, VG_OUT VG_NEW CUgraph *phGraph);
VG_REMOTE(0x0603) VG_CAPTURE_END CUresult cuStreamEndCapture_ptsz(CUstream hStream, VG_OUT VG_NEW CUgraph *phGraph);
VG_REMOTE(0x0604) CUresult cuStreamGetCaptureInfo(CUstream hStream, VG_OUT CUstreamCaptureStatus *captureStatus, VG_OUT VG_OPTIONAL cuuint64_t *id);
VG_REMOTE(0x0605) CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream, VG_OUT CUstreamCaptureStatus *captureStatus, VG_OUT VG_OPTIONAL cuuint64_t *id);
VG_LOCAL CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out, CUgraph *graph_out, const CUgraphNode **dependencies_out, size_t *numDependencies_out);
VG_LOCAL CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out, CUgraph *graph_out, const CUgraphNode **dependencies_out, size_t *numDependencies_out);
VG_LOCAL CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out, CUgraph *graph_out, const CUgraphNode **dependencies_out, const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out);
VG_LOCAL CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out, CUgraph *graph_out, const CUgraphNode **dependencies_out, const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out);
VG_REMOTE(0x0606) CUresult cuThreadExchangeStreamCaptureMode(VG_INOUT CUstreamCaptureMode *mode);
VG_REMOTE(0x0610) CUresult cuGraphCreate(VG_OUT VG_NEW CUgraph *phGraph, unsigned int flags);
VG_REMOTE(0x0611) CUresult cuGraphDestroy(VG_DESTROY CUgraph hGraph);
/* Instantiation, launch and destruction are forwarded by hand because of host nodes, whose
 * functions run in the guest: an exec of a graph with host nodes is launched by the guest as the
 * pieces between its host nodes (guest/cuda/impl/graph_host.c). */
VG_CUSTOM(0x0612) CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags);
VG_LOCAL CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize);
VG_LOCAL CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize);
VG_CUSTOM(0x0613) VG_ASYNC CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream);
VG_CUSTOM(0x0614) VG_ASYNC CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream);
VG_CUSTOM(0x0615) CUresult cuGraphExecDestroy(CUgraphExec hGraphExec);
VG_CUSTOM(0x0616) CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo);
VG_CUSTOM_ALIAS(0x0616) CUresult cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out, CUgraphExecUpdateResult *updateResult_out);
/* Graph introspection (guest/cuda/impl/graph.c, src/executor/custom/graph.ts). A node is a guest
 * handle (CUgraphNode, kind graphnode) the executor hands out the first time a query returns it,
 * owned by its graph: it ends with cuGraphDestroy. The _v2 forms carry edge data; the older list
 * forms send the same op with a flag, and the executor calls the form the guest called. */
VG_CUSTOM(0x0620) CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes);
VG_CUSTOM(0x0621) CUresult cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes);
VG_CUSTOM(0x0622) CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edgeData, size_t *numEdges);
VG_CUSTOM_ALIAS(0x0622) CUresult cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges);
VG_CUSTOM(0x0623) CUresult cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies, CUgraphEdgeData *edgeData, size_t *numDependencies);
VG_CUSTOM_ALIAS(0x0623) CUresult cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies, size_t *numDependencies);
VG_CUSTOM(0x0624) CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes, CUgraphEdgeData *edgeData, size_t *numDependentNodes);
VG_CUSTOM_ALIAS(0x0624) CUresult cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes, size_t *numDependentNodes);
VG_REMOTE(0x0625) CUresult cuGraphNodeGetType(CUgraphNode hNode, VG_OUT CUgraphNodeType *type);
/* The function comes back as the guest's handle for it (a CUkernel launched as a CUfunction, as
 * cudart launches, in `kern` with `func` NULL: cudart maps the node to its kernel by it); the
 * parameter values travel by the sizes cuFuncGetParamInfo gives, into storage the guest keeps with
 * the node until a query returns other values. cuGraphKernelNodeGetParams is answered from the
 * driver's _v2 form. */
VG_CUSTOM(0x0626) CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0626) CUresult cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);

/* ---- CUDA arrays, texture and surface objects (guest/cuda/impl/array.c, src/executor/custom/texture.ts)
 * An array's bytes count toward the session's quota until it is destroyed or its context goes.
 * Texture and surface objects are the driver's 64-bit values, handed to the guest unchanged (kernels
 * receive them in their parameters); the executor keeps the set the session made and refuses any
 * other value, one destroyed with its context included (as arrays, they go with their context). Descriptors travel field by field: array handles as remote ids, device memory checked
 * to lie in one allocation of the session. 2D and 3D copies with an array side are vgMemcpy3DArray. */
VG_CUSTOM(0x0700) CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray);
VG_CUSTOM(0x0701) CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray);
VG_REMOTE(0x0702) CUresult cuArrayDestroy(VG_DESTROY CUarray hArray);
VG_CUSTOM(0x0703) CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR *pArrayDescriptor, CUarray hArray);
VG_CUSTOM(0x0704) CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR *pArrayDescriptor, CUarray hArray);
VG_REMOTE(0x0705) VG_SYNC VG_WORK CUresult cuMemcpyAtoD_v2(VG_RANGE(ByteCount) CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount);
VG_REMOTE(0x0706) VG_SYNC VG_WORK CUresult cuMemcpyDtoA_v2(CUarray dstArray, size_t dstOffset, VG_RANGE(ByteCount) CUdeviceptr srcDevice, size_t ByteCount);
VG_REMOTE(0x0707) VG_SYNC VG_WORK CUresult cuMemcpyAtoA_v2(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset, size_t ByteCount);
VG_REMOTE(0x0708) VG_SYNC VG_WORK CUresult cuMemcpyAtoD_v2_ptds(VG_RANGE(ByteCount) CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount);
VG_REMOTE(0x0709) VG_SYNC VG_WORK CUresult cuMemcpyDtoA_v2_ptds(CUarray dstArray, size_t dstOffset, VG_RANGE(ByteCount) CUdeviceptr srcDevice, size_t ByteCount);
VG_REMOTE(0x070a) VG_SYNC VG_WORK CUresult cuMemcpyAtoA_v2_ptds(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset, size_t ByteCount);
/* Host bytes travel in pieces of at most CHUNK: the guest cuts a large copy into several calls. */
VG_CUSTOM(0x070b) VG_SYNC CUresult cuMemcpyHtoA_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount);
VG_CUSTOM(0x070c) VG_SYNC CUresult cuMemcpyAtoH_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount);
VG_CUSTOM(0x070d) VG_SYNC CUresult cuMemcpyHtoAAsync_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount, CUstream hStream);
VG_CUSTOM(0x070e) VG_SYNC CUresult cuMemcpyAtoHAsync_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount, CUstream hStream);
VG_CUSTOM(0x070f) VG_SYNC CUresult cuMemcpyHtoA_v2_ptds(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount);
VG_CUSTOM(0x0710) VG_SYNC CUresult cuMemcpyAtoH_v2_ptds(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount);
VG_CUSTOM(0x0711) VG_SYNC CUresult cuMemcpyHtoAAsync_v2_ptsz(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount, CUstream hStream);
VG_CUSTOM(0x0712) VG_SYNC CUresult cuMemcpyAtoHAsync_v2_ptsz(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount, CUstream hStream);
/* A mipmapped array's levels are arrays owned by it: they go when it is destroyed. */
VG_CUSTOM(0x0713) CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc, unsigned int numMipmapLevels);
VG_CUSTOM(0x0714) CUresult cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray, unsigned int level);
VG_REMOTE(0x0715) CUresult cuMipmappedArrayDestroy(VG_DESTROY CUmipmappedArray hMipmappedArray);
VG_CUSTOM(0x0720) CUresult cuTexObjectCreate(CUtexObject *pTexObject, const CUDA_RESOURCE_DESC *pResDesc, const CUDA_TEXTURE_DESC *pTexDesc, const CUDA_RESOURCE_VIEW_DESC *pResViewDesc);
VG_CUSTOM(0x0721) CUresult cuTexObjectDestroy(CUtexObject texObject);
VG_CUSTOM(0x0722) CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUtexObject texObject);
VG_CUSTOM(0x0723) CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *pTexDesc, CUtexObject texObject);
VG_CUSTOM(0x0724) CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *pResViewDesc, CUtexObject texObject);
VG_CUSTOM(0x0725) CUresult cuSurfObjectCreate(CUsurfObject *pSurfObject, const CUDA_RESOURCE_DESC *pResDesc);
VG_CUSTOM(0x0726) CUresult cuSurfObjectDestroy(CUsurfObject surfObject);
VG_CUSTOM(0x0727) CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUsurfObject surfObject);
/* Graph editing (guest/cuda/impl/graph_edit.c, src/executor/custom/graph-edit.ts). Node arrays
 * travel as guest node ids (a handle the guest does not know goes as an id no node has, which the
 * executor answers as the driver answers a node of another graph: CUDA_ERROR_INVALID_VALUE). A
 * node's operation travels in one form for adding, setting and setting in an exec: its type, then
 * what that type needs (a kernel's parameters packed per its layout, as launches carry them; a copy
 * or memset whose device ranges the executor checks against the session's allocations; a host
 * function's address and argument, which stay the guest's: the executor keeps them for the node and
 * gives the driver a function that does nothing). The typed and generic forms are expressed as one
 * op per verb: the executor calls the driver's typed function for the node's type. */
VG_REMOTE(0x0627) CUresult cuGraphClone(VG_OUT VG_NEW CUgraph *phGraphClone, CUgraph originalGraph);
VG_REMOTE(0x0628) CUresult cuGraphDestroyNode(VG_DESTROY CUgraphNode hNode);
VG_CUSTOM(0x0629) CUresult cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode, CUgraph hClonedGraph);
VG_CUSTOM(0x062a) CUresult cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *edgeData, size_t numDependencies);
VG_CUSTOM_ALIAS(0x062a) CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, size_t numDependencies);
VG_CUSTOM(0x062b) CUresult cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *edgeData, size_t numDependencies);
VG_CUSTOM_ALIAS(0x062b) CUresult cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, size_t numDependencies);
VG_CUSTOM(0x0630) CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, const CUgraphEdgeData *dependencyData, size_t numDependencies, CUgraphNodeParams *nodeParams);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, CUgraphNodeParams *nodeParams);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, const CUDA_MEMCPY3D *copyParams, CUcontext ctx);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, const CUDA_HOST_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, CUevent event);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, CUevent event);
VG_CUSTOM_ALIAS(0x0630) CUresult cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies, size_t numDependencies, CUgraph childGraph);
VG_CUSTOM(0x0631) CUresult cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *nodeParams);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphMemsetNodeSetParams(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode hNode, CUevent event);
VG_CUSTOM_ALIAS(0x0631) CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode hNode, CUevent event);
VG_CUSTOM(0x0632) CUresult cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeParams *nodeParams);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_MEMCPY3D *copyParams, CUcontext ctx);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event);
VG_CUSTOM_ALIAS(0x0632) CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraph childGraph);
/* The getters of the other node types: the guest names the type whose getter it called. */
VG_CUSTOM(0x0633) CUresult cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams);
VG_CUSTOM_ALIAS(0x0633) CUresult cuGraphMemsetNodeGetParams(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0633) CUresult cuGraphHostNodeGetParams(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *nodeParams);
VG_CUSTOM_ALIAS(0x0633) CUresult cuGraphEventRecordNodeGetEvent(CUgraphNode hNode, CUevent *event_out);
VG_CUSTOM_ALIAS(0x0633) CUresult cuGraphEventWaitNodeGetEvent(CUgraphNode hNode, CUevent *event_out);
/* The graph a child-graph node holds: a graph id owned by the node, ending with it. */
VG_CUSTOM_ALIAS(0x0633) CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph);
VG_CUSTOM(0x0634) CUresult cuGraphNodeSetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int isEnabled);
VG_CUSTOM_ALIAS(0x0634) CUresult cuGraphNodeGetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int *isEnabled);

/* vgpu's own operations (not driver entry points: never exported). */
VG_PRIVATE(0x0f00) CUresult vgImageHave(const void *sha256, unsigned char *have);
VG_PRIVATE(0x0f01) CUresult vgImagePut(const void *sha256, size_t total, size_t offset, const void *piece, size_t n);
/* What the host driver says about ptr when it lies in one of the session's device allocations
 * (guest/cuda/impl/pointer.c, src/executor/custom/pointer.ts); *found = 0 for any other address. */
VG_PRIVATE(0x0f02) CUresult vgPointerQuery(CUdeviceptr ptr, unsigned int mode, unsigned int numAttributes, const CUpointer_attribute *attributes, unsigned char *found, void *values);
/* Shared memory for bulk copies (docs/protocol.md, "Shared memory"; guest/cuda/impl/shm.c,
 * src/executor/custom/shm.ts). vgShmOffer announces a memfd that follows its reply on the socket;
 * vgShmCheck proves both sides map the same bytes; the copies name ranges of the region. */
VG_PRIVATE(0x0f03) CUresult vgShmOffer(size_t bytes);
VG_PRIVATE(0x0f04) CUresult vgShmCheck(size_t offset, const void *nonce, size_t *bytes);
VG_PRIVATE(0x0f05) VG_SYNC CUresult vgShmHtoD(CUdeviceptr dst, size_t offset, size_t n, unsigned int flags);
VG_PRIVATE(0x0f06) VG_ASYNC CUresult vgShmHtoDAsync(CUdeviceptr dst, size_t offset, size_t n, CUstream hStream, unsigned int flags);
VG_PRIVATE(0x0f07) VG_SYNC CUresult vgShmDtoH(size_t offset, CUdeviceptr src, size_t n, unsigned int flags);
VG_PRIVATE(0x0f08) VG_SYNC CUresult vgShmDtoHAsync(size_t offset, CUdeviceptr src, size_t n, CUstream hStream, unsigned int flags);
/* A page-locked block of the region: registered with the host driver while the guest holds it, so
 * a real GPU copies it by DMA. */
VG_PRIVATE(0x0f09) CUresult vgShmPin(size_t offset, size_t n);
VG_PRIVATE(0x0f0a) CUresult vgShmUnpin(size_t offset);

/* Coherent memory's transfers (guest/cuda/impl/coherent.c, src/executor/custom/coherent.ts): the
 * pages the host changed go to the device and to the executor's shadow of the range; a read returns
 * a bitmap of the chunks that differ from that shadow and their bytes. */
VG_PRIVATE(0x0f0b) CUresult vgCoherentWrite(CUdeviceptr base, size_t size, size_t offset, const void *data, size_t n);
VG_PRIVATE(0x0f0c) CUresult vgCoherentRead(CUdeviceptr base, size_t size, size_t offset, size_t n, unsigned int chunk, unsigned char *changed, void *bytes);

/* A 2D or 3D copy with a CUDA array on one side or both (guest/cuda/impl/array.c): the box and each
 * side field by field, host bytes packed (at most CHUNK per call), on a stream or the default one. */
VG_PRIVATE(0x0f0d) VG_SYNC CUresult vgMemcpy3DArray(const CUDA_MEMCPY3D *pCopy, CUstream hStream);

/* Retired wire ids (never reuse): none yet. */
