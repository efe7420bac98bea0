/*
 * Virtual memory management (cuMemAddressReserve, cuMemCreate, cuMemMap, ...), forwarded by hand
 * because its properties and access descriptors are structs: they travel field by field, location
 * ids as vGPU ordinals (the executor maps them, src/executor/custom/vmm.ts). Allocation handles
 * are the executor's session ids, opaque here. The executor checks that a session maps only its
 * own handles into its own reservations; physical allocations count toward the VM's quota.
 * Shareable handles (cuMemExportToShareableHandle/ImportFromShareableHandle) are in ipc.c.
 */
#include "vgcuda.h"

#include "rpc.h"

static void put_props(vg_call *c, const CUmemAllocationProp *p) {
  vg_put_u32(c, (uint32_t)p->type);
  vg_put_u32(c, (uint32_t)p->requestedHandleTypes);
  vg_put_u32(c, (uint32_t)p->location.type);
  vg_put_i32(c, p->location.id);
  vg_put_u32(c, p->allocFlags.compressionType);
  vg_put_u32(c, p->allocFlags.gpuDirectRDMACapable);
  vg_put_u32(c, p->allocFlags.usage);
}

static CUresult begin(vg_call *c, uint32_t op) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  return vg_call_begin(c, op, 0);
}

static CUresult address_reserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                unsigned long long flags) {
  if (!ptr) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemAddressReserve);
  if (r) return r;
  vg_put_u64(&c, size);
  vg_put_u64(&c, alignment);
  vg_put_u64(&c, addr);
  vg_put_u64(&c, flags);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *ptr = (CUdeviceptr)vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                       unsigned long long flags) {
  VG_TRACED(address_reserve(ptr, size, alignment, addr, flags));
}

/* Calls whose arguments are all 64-bit scalars and whose reply is only the result. */
static CUresult scalars(uint32_t op, unsigned n, const uint64_t *v) {
  vg_call c;
  CUresult r = begin(&c, op);
  if (r) return r;
  for (unsigned i = 0; i < n; i++) vg_put_u64(&c, v[i]);
  r = vg_call_invoke(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  VG_TRACED(scalars(VG_OP_cuMemAddressFree, 2, (const uint64_t[]){ptr, size}));
}

static CUresult mem_create(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                           unsigned long long flags) {
  if (!handle || !prop) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemCreate);
  if (r) return r;
  vg_put_u64(&c, size);
  put_props(&c, prop);
  vg_put_u64(&c, flags);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *handle = (CUmemGenericAllocationHandle)vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                               unsigned long long flags) {
  VG_TRACED(mem_create(handle, size, prop, flags));
}

VG_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  VG_TRACED(scalars(VG_OP_cuMemRelease, 1, (const uint64_t[]){handle}));
}

VG_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                            unsigned long long flags) {
  VG_TRACED(scalars(VG_OP_cuMemMap, 5, (const uint64_t[]){ptr, size, offset, handle, flags}));
}

VG_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  VG_TRACED(scalars(VG_OP_cuMemUnmap, 2, (const uint64_t[]){ptr, size}));
}

/* Most descriptors sent (the executor's limit): one per device is all a program needs. */
#define MAX_ACCESS_DESCS 64

static CUresult set_access(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
  if (!desc || count == 0 || count > MAX_ACCESS_DESCS) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemSetAccess);
  if (r) return r;
  vg_put_u64(&c, ptr);
  vg_put_u64(&c, size);
  vg_put_u32(&c, (uint32_t)count);
  for (size_t i = 0; i < count; i++) {
    vg_put_u32(&c, (uint32_t)desc[i].location.type);
    vg_put_i32(&c, desc[i].location.id);
    vg_put_u32(&c, (uint32_t)desc[i].flags);
  }
  r = vg_call_invoke(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
  VG_TRACED(set_access(ptr, size, desc, count));
}

static CUresult get_access(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr) {
  if (!flags || !location) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemGetAccess);
  if (r) return r;
  vg_put_u32(&c, (uint32_t)location->type);
  vg_put_i32(&c, location->id);
  vg_put_u64(&c, ptr);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *flags = vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr) {
  VG_TRACED(get_access(flags, location, ptr));
}

static CUresult granularity(size_t *g, const CUmemAllocationProp *prop, CUmemAllocationGranularity_flags option) {
  if (!g || !prop) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemGetAllocationGranularity);
  if (r) return r;
  put_props(&c, prop);
  vg_put_u32(&c, (uint32_t)option);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *g = (size_t)vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemGetAllocationGranularity(size_t *granularity_, const CUmemAllocationProp *prop,
                                                 CUmemAllocationGranularity_flags option) {
  VG_TRACED(granularity(granularity_, prop, option));
}

static CUresult props_from_handle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle) {
  if (!prop) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemGetAllocationPropertiesFromHandle);
  if (r) return r;
  vg_put_u64(&c, handle);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    CUmemAllocationProp p = {0};
    p.type = (CUmemAllocationType)vg_get_u32(&c);
    p.requestedHandleTypes = (CUmemAllocationHandleType)vg_get_u32(&c);
    p.location.type = (CUmemLocationType)vg_get_u32(&c);
    p.location.id = vg_get_i32(&c);
    p.allocFlags.compressionType = (unsigned char)vg_get_u32(&c);
    p.allocFlags.gpuDirectRDMACapable = (unsigned char)vg_get_u32(&c);
    p.allocFlags.usage = (unsigned short)vg_get_u32(&c);
    *prop = p;
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle) {
  VG_TRACED(props_from_handle(prop, handle));
}

static CUresult retain(CUmemGenericAllocationHandle *handle, void *addr) {
  if (!handle) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemRetainAllocationHandle);
  if (r) return r;
  vg_put_u64(&c, (uint64_t)(uintptr_t)addr);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *handle = (CUmemGenericAllocationHandle)vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr) {
  VG_TRACED(retain(handle, addr));
}
