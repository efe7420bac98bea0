/*
 * Advice, prefetch locations and range attributes of managed memory, shared by softgpu and the
 * guest library (docs/managed-memory.md): each keeps one record per page of a managed allocation
 * and answers cuMemAdvise, cuMemPrefetchAsync and cuMemRangeGetAttribute(s) through these
 * functions, so the two cannot drift apart. Neither device has concurrent managed access, so a
 * prefetch to a GPU is refused as on such a device (vg_prefetch_check).
 */
#ifndef VG_COMMON_MANAGED_ADVICE_H
#define VG_COMMON_MANAGED_ADVICE_H

#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

/* One page's state: location types are CUmemLocationType values, 0 (invalid) when unset. */
typedef struct vg_advice_page {
  uint8_t read_mostly;
  uint8_t pref_type, prefetch_type;
  uint8_t accessed_by; /* one bit per device ordinal below 8 */
  int8_t pref_id, prefetch_id;
} vg_advice_page;

/* A location a managed range may be advised or prefetched to, on a machine of ndev devices:
 * INVALID_DEVICE for a device that is not one, INVALID_VALUE for a type not defined here. */
static inline CUresult vg_location_check(CUmemLocation loc, int ndev) {
  switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: return loc.id >= 0 && loc.id < ndev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT: return CUDA_SUCCESS;
    case CU_MEM_LOCATION_TYPE_HOST_NUMA: return loc.id >= 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}

/* The legacy CUdevice argument: an ordinal or CU_DEVICE_CPU. */
static inline CUmemLocation vg_device_location(CUdevice d) {
  if (d == CU_DEVICE_CPU) return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_HOST, .id = 0};
  return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = d};
}

/* cuMemPrefetchAsync's own checks (the range is the caller's): moving pages to a GPU while the
 * host may touch them needs concurrent managed access, which neither device has. */
static inline CUresult vg_prefetch_check(CUmemLocation loc, unsigned flags, int ndev) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = vg_location_check(loc, ndev);
  if (r) return r;
  return loc.type == CU_MEM_LOCATION_TYPE_DEVICE ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

static inline void vg_prefetch_apply(vg_advice_page *pg, size_t n, CUmemLocation loc) {
  for (size_t i = 0; i < n; i++) {
    pg[i].prefetch_type = (uint8_t)loc.type;
    pg[i].prefetch_id = (int8_t)loc.id;
  }
}

/* cuMemAdvise's own checks: read-mostly and its undoing ignore the location; the others name one. */
static inline CUresult vg_advise_check(CUmem_advise what, CUmemLocation loc, int ndev) {
  if (what < CU_MEM_ADVISE_SET_READ_MOSTLY || what > CU_MEM_ADVISE_UNSET_ACCESSED_BY) return CUDA_ERROR_INVALID_VALUE;
  if (what == CU_MEM_ADVISE_SET_READ_MOSTLY || what == CU_MEM_ADVISE_UNSET_READ_MOSTLY) return CUDA_SUCCESS;
  return vg_location_check(loc, ndev);
}

static inline void vg_advise_apply(vg_advice_page *pg, size_t n, CUmem_advise what, CUmemLocation loc) {
  uint8_t bit = loc.type == CU_MEM_LOCATION_TYPE_DEVICE && loc.id < 8 ? (uint8_t)(1u << loc.id) : 0;
  for (size_t i = 0; i < n; i++) {
    switch (what) {
      case CU_MEM_ADVISE_SET_READ_MOSTLY: pg[i].read_mostly = 1; break;
      case CU_MEM_ADVISE_UNSET_READ_MOSTLY: pg[i].read_mostly = 0; break;
      case CU_MEM_ADVISE_SET_PREFERRED_LOCATION:
        pg[i].pref_type = (uint8_t)loc.type;
        pg[i].pref_id = (int8_t)loc.id;
        break;
      case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION: pg[i].pref_type = 0; pg[i].pref_id = 0; break;
      case CU_MEM_ADVISE_SET_ACCESSED_BY: pg[i].accessed_by |= bit; break;
      case CU_MEM_ADVISE_UNSET_ACCESSED_BY: pg[i].accessed_by &= (uint8_t)~bit; break;
    }
  }
}

/* Whether dataSize suits the attribute (cuda.h: 4 bytes, a location type, or a multiple of 4). */
static inline int vg_range_size_ok(CUmem_range_attribute a, size_t size) {
  switch (a) {
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: return size > 0 && size % 4 == 0;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE: return size == sizeof(CUmemLocationType);
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY:
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID: return size == 4;
  }
  return 0;
}

/* A location every page shares (the preferred one, or the last prefetch's), else the invalid one. */
static inline CUmemLocation vg_common_location(const vg_advice_page *pg, size_t n, int prefetch_loc) {
  uint8_t t = prefetch_loc ? pg[0].prefetch_type : pg[0].pref_type;
  int8_t id = prefetch_loc ? pg[0].prefetch_id : pg[0].pref_id;
  for (size_t i = 1; i < n; i++) {
    uint8_t ti = prefetch_loc ? pg[i].prefetch_type : pg[i].pref_type;
    int8_t idi = prefetch_loc ? pg[i].prefetch_id : pg[i].pref_id;
    if (ti != t || idi != id) return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_INVALID, .id = 0};
  }
  return (CUmemLocation){.type = (CUmemLocationType)t, .id = id};
}

/* The legacy form of a location: a device ordinal, CU_DEVICE_CPU or CU_DEVICE_INVALID. */
static inline int vg_legacy_device(CUmemLocation l) {
  if (l.type == CU_MEM_LOCATION_TYPE_DEVICE) return l.id;
  if (l.type == CU_MEM_LOCATION_TYPE_HOST) return CU_DEVICE_CPU;
  return CU_DEVICE_INVALID;
}

/* Writes attribute a of the pages pg[0..n) into data (size bytes, checked by vg_range_size_ok). */
static inline void vg_range_answer(const vg_advice_page *pg, size_t n, CUmem_range_attribute a, void *data, size_t size) {
  switch (a) {
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY: {
      int all = 1;
      for (size_t i = 0; i < n; i++) all = all && pg[i].read_mostly;
      *(int *)data = all;
      break;
    }
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION: *(int *)data = vg_legacy_device(vg_common_location(pg, n, 0)); break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION: *(int *)data = vg_legacy_device(vg_common_location(pg, n, 1)); break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE: *(CUmemLocationType *)data = vg_common_location(pg, n, 0).type; break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID: *(int *)data = vg_common_location(pg, n, 0).id; break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE: *(CUmemLocationType *)data = vg_common_location(pg, n, 1).type; break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID: *(int *)data = vg_common_location(pg, n, 1).id; break;
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: {
      uint8_t all = 0xff;
      for (size_t i = 0; i < n; i++) all &= pg[i].accessed_by;
      int *out = data;
      size_t k = 0, cap = size / sizeof(int);
      for (int d = 0; d < 8 && k < cap; d++)
        if (all & (1u << d)) out[k++] = d;
      while (k < cap) out[k++] = CU_DEVICE_INVALID;
      break;
    }
  }
}

/* cuStreamAttachMemAsync on the managed allocation [base, base+size) holding dptr (the caller has
 * found it; pageable memory is refused before, as PAGEABLE_MEMORY_ACCESS is 0): an allocation is
 * attached whole, so dptr must be its start and length 0 or its size, and flags exactly one of
 * GLOBAL, HOST and SINGLE. */
static inline CUresult vg_attach_check(CUdeviceptr dptr, size_t length, unsigned flags, CUdeviceptr base, size_t size) {
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST && flags != CU_MEM_ATTACH_SINGLE) return CUDA_ERROR_INVALID_VALUE;
  if (dptr != base || (length != 0 && length != size)) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

#endif
