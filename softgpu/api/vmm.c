/*
 * Virtual memory management: address reservations, physical allocations and their mappings
 * (cuMemAddressReserve, cuMemCreate, cuMemMap, cuMemSetAccess, ...). The memory itself is
 * sg_mem.c's (reservations in the arena's address space, physical memory in a file mapped over
 * them); this file keeps the driver's objects and their rules, as cuda.h documents them:
 *  - sizes, addresses and offsets are multiples of the granularity (2 MiB, what GPUs report);
 *  - a mapping lies inside one reservation, over nothing mapped, and starts inaccessible: its
 *    granules become live (usable by copies and kernels) with cuMemSetAccess;
 *  - cuMemUnmap and cuMemSetAccess take whole mappings (one or several adjacent ones);
 *  - a physical allocation is freed when its handle is released (once per create and per retain)
 *    and nothing maps it any more.
 * These objects belong to the process, not to a context, so destroying a context keeps them.
 * Shareable handles: an allocation made with CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR exports as a
 * file descriptor of a small memory file describing it (the exporter's pid, its physical file's
 * descriptor number and inode, the allocation's offset, size and properties). Importing reads it,
 * opens the exporter's physical file through /proc/<pid>/fd (same user, as softgpu's executors
 * are; the inode must match), and the imported allocation maps pages of that file: both
 * processes share the bytes. An import in the exporting process itself is another reference to
 * the same allocation.
 * READ access is given as read-write (the granule map has no read-only state).
 */
#include "sg_api.h"
#include "sg_mem.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GRANULARITY ((uint64_t)2 << 20)

typedef struct sg_phys {
  struct sg_phys *next;
  uint64_t off, size; /* in sg_mem's physical space */
  int refs;           /* cuMemCreate, plus one per cuMemRetainAllocationHandle, minus releases */
  int maps;           /* live mappings of it */
  int fd;             /* imported from another process: its physical file (off is in it); else -1 */
  int exported;       /* cuMemExportToShareableHandle gave a descriptor of it */
  CUmemAllocationProp prop;
} sg_phys;

typedef struct sg_map {
  struct sg_map *next;
  CUdeviceptr va;
  uint64_t size;
  sg_phys *phys;
  unsigned long long access; /* CUmemAccess_flags */
} sg_map;

static pthread_mutex_t g_vmm_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_phys *g_phys;
static sg_map *g_maps; /* sorted by address */

static sg_phys *phys_find(CUmemGenericAllocationHandle h) {
  for (sg_phys *p = g_phys; p; p = p->next)
    if ((CUmemGenericAllocationHandle)(uintptr_t)p == h && p->refs > 0) return p;
  return NULL;
}

/* Frees a physical allocation nobody holds or maps any more. Called with g_vmm_lock held. */
static void phys_drop_if_unused(sg_phys *p) {
  if (p->refs > 0 || p->maps > 0) return;
  for (sg_phys **pp = &g_phys; *pp; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  }
  if (p->fd >= 0) close(p->fd); /* the exporter's memory: only this process's view of it goes */
  /* Exported, another process may still map its pages: they are neither punched out nor allocated
   * again while this process lives (no one tells it of the last import's end), as sg_mem_free
   * does with memory exported by CUDA IPC. */
  else if (!p->exported) sg_mem_phys_free(p->off, p->size);
  free(p);
}

static sg_map *map_at(CUdeviceptr va) {
  for (sg_map *m = g_maps; m; m = m->next)
    if (va >= m->va && va - m->va < m->size) return m;
  return NULL;
}

/* The first mapping of a run of adjacent whole mappings covering exactly [va, va+size), or NULL. */
static sg_map *whole_run(CUdeviceptr va, uint64_t size) {
  sg_map *first = NULL;
  for (sg_map *m = g_maps; m; m = m->next) {
    if (m->va == va) first = m;
    if (!first) continue;
    CUdeviceptr end = m->va + m->size;
    if (end == va + size) return first;
    if (end > va + size || !m->next || m->next->va != end) return NULL;
  }
  return NULL;
}

static int device_location_ok(const CUmemLocation *loc, CUresult *rc) {
  if (loc->type != CU_MEM_LOCATION_TYPE_DEVICE) {
    *rc = CUDA_ERROR_INVALID_VALUE;
    return 0;
  }
  if (loc->id < 0 || loc->id >= sg_dev_count()) {
    *rc = CUDA_ERROR_INVALID_DEVICE;
    return 0;
  }
  return 1;
}

/* The properties cuMemCreate and cuMemGetAllocationGranularity accept. */
static CUresult check_prop(const CUmemAllocationProp *prop) {
  if (prop->type != CU_MEM_ALLOCATION_TYPE_PINNED) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = CUDA_SUCCESS;
  if (!device_location_ok(&prop->location, &rc)) return rc;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                                 CUmemAllocationGranularity_flags option) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!granularity || !prop) return CUDA_ERROR_INVALID_VALUE;
  if (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)
    return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = check_prop(prop);
  if (rc) return rc;
  *granularity = (size_t)GRANULARITY;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                               unsigned long long flags) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!handle || !prop || flags != 0 || size == 0 || size % GRANULARITY) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = check_prop(prop);
  if (rc) return rc;
  /* A file descriptor may be asked for (PyTorch's expandable segments always do): then
   * cuMemExportToShareableHandle makes one. Other kinds are refused. */
  if (prop->requestedHandleTypes & ~CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
  sg_phys *p = calloc(1, sizeof *p);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  if (sg_mem_phys_alloc(size, &p->off) != 0) {
    free(p);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  p->size = size;
  p->refs = 1;
  p->fd = -1;
  p->prop = *prop;
  /* What the device gives, not what was asked: no compression, no RDMA. */
  p->prop.allocFlags.compressionType = 0;
  p->prop.allocFlags.gpuDirectRDMACapable = 0;
  pthread_mutex_lock(&g_vmm_lock);
  p->next = g_phys;
  g_phys = p;
  pthread_mutex_unlock(&g_vmm_lock);
  *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  pthread_mutex_lock(&g_vmm_lock);
  sg_phys *p = phys_find(handle);
  if (p) {
    p->refs--;
    phys_drop_if_unused(p);
  }
  pthread_mutex_unlock(&g_vmm_lock);
  return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SG_EXPORT CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!prop) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_vmm_lock);
  sg_phys *p = phys_find(handle);
  if (p) *prop = p->prop;
  pthread_mutex_unlock(&g_vmm_lock);
  return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SG_EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                       unsigned long long flags) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!ptr || flags != 0 || size == 0 || size % GRANULARITY) return CUDA_ERROR_INVALID_VALUE;
  if (alignment & (alignment - 1)) return CUDA_ERROR_INVALID_VALUE;
  sg_devptr p;
  if (sg_mem_reserve(size, alignment > GRANULARITY ? alignment : GRANULARITY, addr, &p) != 0)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *ptr = (CUdeviceptr)p;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_devptr base;
  uint64_t rsize;
  if (sg_mem_reservation(ptr, &base, &rsize) != 0 || base != ptr || rsize != size) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_vmm_lock);
  /* A reservation still mapped is refused: its mappings would be left pointing nowhere. */
  for (sg_map *m = g_maps; m; m = m->next) {
    if (m->va >= ptr && m->va - ptr < size) {
      pthread_mutex_unlock(&g_vmm_lock);
      return CUDA_ERROR_INVALID_VALUE;
    }
  }
  int ok = sg_mem_unreserve(ptr, size) == 0;
  pthread_mutex_unlock(&g_vmm_lock);
  return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SG_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                            unsigned long long flags) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (flags != 0 || size == 0 || ptr % GRANULARITY || size % GRANULARITY || offset % GRANULARITY)
    return CUDA_ERROR_INVALID_VALUE;
  sg_devptr rbase;
  uint64_t rsize;
  if (sg_mem_reservation(ptr, &rbase, &rsize) != 0 || size > rsize - (ptr - rbase)) return CUDA_ERROR_INVALID_VALUE;
  sg_map *m = calloc(1, sizeof *m);
  if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_lock(&g_vmm_lock);
  CUresult rc = CUDA_SUCCESS;
  sg_phys *p = phys_find(handle);
  if (!p || offset > p->size || size > p->size - offset) rc = CUDA_ERROR_INVALID_VALUE;
  sg_map **at = &g_maps;
  while (!rc && *at && (*at)->va < ptr) {
    if ((*at)->va + (*at)->size > ptr) rc = CUDA_ERROR_INVALID_VALUE; /* overlaps an earlier mapping */
    at = &(*at)->next;
  }
  if (!rc && *at && (*at)->va < ptr + size) rc = CUDA_ERROR_INVALID_VALUE; /* overlaps a later one */
  if (!rc && (p->fd >= 0 ? sg_mem_map_fd(ptr, size, p->fd, p->off + offset) : sg_mem_map(ptr, size, p->off + offset)) != 0)
    rc = CUDA_ERROR_OUT_OF_MEMORY;
  if (rc) {
    pthread_mutex_unlock(&g_vmm_lock);
    free(m);
    return rc;
  }
  *m = (sg_map){*at, ptr, size, p, CU_MEM_ACCESS_FLAGS_PROT_NONE};
  *at = m;
  p->maps++;
  pthread_mutex_unlock(&g_vmm_lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  pthread_mutex_lock(&g_vmm_lock);
  sg_map *first = size ? whole_run(ptr, size) : NULL;
  if (!first) {
    pthread_mutex_unlock(&g_vmm_lock);
    return CUDA_ERROR_INVALID_VALUE;
  }
  /* Work on the device is finished here (every call runs to completion), so the pages can go. */
  sg_map **pp = &g_maps;
  while (*pp != first) pp = &(*pp)->next;
  while (*pp && (*pp)->va < ptr + size) {
    sg_map *m = *pp;
    *pp = m->next;
    sg_mem_unmap(m->va, m->size);
    m->phys->maps--;
    phys_drop_if_unused(m->phys);
    free(m);
  }
  pthread_mutex_unlock(&g_vmm_lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!desc || count == 0 || size == 0) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = CUDA_SUCCESS;
  for (size_t i = 0; i < count; i++) {
    if (!device_location_ok(&desc[i].location, &rc)) return rc;
    CUmemAccess_flags f = desc[i].flags;
    if (f != CU_MEM_ACCESS_FLAGS_PROT_NONE && f != CU_MEM_ACCESS_FLAGS_PROT_READ && f != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
      return CUDA_ERROR_INVALID_VALUE;
  }
  pthread_mutex_lock(&g_vmm_lock);
  sg_map *first = whole_run(ptr, size);
  if (!first) {
    pthread_mutex_unlock(&g_vmm_lock);
    return CUDA_ERROR_INVALID_VALUE;
  }
  /* One device: the last descriptor for it wins. */
  CUmemAccess_flags f = desc[count - 1].flags;
  for (sg_map *m = first; m && m->va < ptr + size; m = m->next) {
    m->access = f;
    sg_mem_set_live(m->va, m->size, f != CU_MEM_ACCESS_FLAGS_PROT_NONE);
  }
  pthread_mutex_unlock(&g_vmm_lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!flags || !location) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = CUDA_SUCCESS;
  if (!device_location_ok(location, &rc)) return rc;
  pthread_mutex_lock(&g_vmm_lock);
  sg_map *m = map_at(ptr);
  if (m) *flags = m->access;
  pthread_mutex_unlock(&g_vmm_lock);
  return m ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SG_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!handle) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_vmm_lock);
  sg_map *m = map_at((CUdeviceptr)(uintptr_t)addr);
  if (m) {
    m->phys->refs++;
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)m->phys;
  }
  pthread_mutex_unlock(&g_vmm_lock);
  return m ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

int sg_vmm_range(CUdeviceptr p, CUdeviceptr *base, uint64_t *size, unsigned long long *access) {
  pthread_mutex_lock(&g_vmm_lock);
  sg_map *m = map_at(p);
  if (m) {
    *base = m->va;
    *size = m->size;
    *access = m->access;
  }
  pthread_mutex_unlock(&g_vmm_lock);
  if (m) return 0;
  /* Memory opened from another process is mapped the same way (ipc.c), read-write. */
  if (sg_ipc_range(p, base, size) != 0) return -1;
  *access = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  return 0;
}

/* ---- shareable handles (file descriptors) ------------------------------------------------------ */

#define SHARE_MAGIC 0x4d4d5673u /* "sVMM" */

typedef struct share_desc {
  uint32_t magic;
  uint32_t pid;
  int32_t fd; /* the exporter's physical file */
  uint32_t type;
  uint64_t ino;
  uint64_t off, size;
  int32_t loc_id;
  uint32_t handle_types;
  uint8_t pad[16];
} share_desc;

_Static_assert(sizeof(share_desc) == 64, "a descriptor is 64 bytes");

SG_EXPORT CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                                CUmemAllocationHandleType handleType, unsigned long long flags) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!shareableHandle || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
  pthread_mutex_lock(&g_vmm_lock);
  sg_phys *p = phys_find(handle);
  share_desc d = {0};
  CUresult rc = CUDA_SUCCESS;
  if (!p || !(p->prop.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)) {
    rc = CUDA_ERROR_INVALID_VALUE; /* the allocation was not made shareable as a descriptor */
  } else {
    int file = p->fd >= 0 ? p->fd : sg_mem_phys_fd();
    struct stat st;
    if (file < 0 || fstat(file, &st) != 0) rc = CUDA_ERROR_OUT_OF_MEMORY;
    else {
      p->exported = 1;
      d = (share_desc){SHARE_MAGIC, (uint32_t)getpid(), file, (uint32_t)p->prop.type, (uint64_t)st.st_ino,
                       p->off, p->size, p->prop.location.id, (uint32_t)p->prop.requestedHandleTypes, {0}};
    }
  }
  pthread_mutex_unlock(&g_vmm_lock);
  if (rc) return rc;
  int fd = memfd_create("softgpu-shareable", MFD_CLOEXEC);
  if (fd < 0) return CUDA_ERROR_OUT_OF_MEMORY;
  if (pwrite(fd, &d, sizeof d, 0) != (ssize_t)sizeof d) {
    close(fd);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *(int *)shareableHandle = fd;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle,
                                                  CUmemAllocationHandleType shHandleType) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!handle) return CUDA_ERROR_INVALID_VALUE;
  if (shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
  /* The descriptor travels in the pointer, as cuda.h says for this handle type. */
  int in = (int)(intptr_t)osHandle;
  share_desc d;
  if (in < 0 || pread(in, &d, sizeof d, 0) != (ssize_t)sizeof d || d.magic != SHARE_MAGIC || d.size == 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (d.pid == (uint32_t)getpid()) {
    /* Exported by this process: one more reference to the allocation it names. */
    pthread_mutex_lock(&g_vmm_lock);
    sg_phys *p = g_phys;
    while (p && !(p->refs > 0 && p->off == d.off && p->size == d.size && (p->fd >= 0 ? p->fd : sg_mem_phys_fd()) == d.fd)) p = p->next;
    if (p) {
      p->refs++;
      *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
    }
    pthread_mutex_unlock(&g_vmm_lock);
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/fd/%d", d.pid, d.fd);
  int file = open(path, O_RDWR | O_CLOEXEC);
  struct stat st;
  if (file < 0) return CUDA_ERROR_INVALID_VALUE;
  if (fstat(file, &st) != 0 || (uint64_t)st.st_ino != d.ino || d.off > (uint64_t)st.st_size ||
      d.size > (uint64_t)st.st_size - d.off) {
    close(file);
    return CUDA_ERROR_INVALID_VALUE;
  }
  sg_phys *p = calloc(1, sizeof *p);
  if (!p) {
    close(file);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  p->off = d.off;
  p->size = d.size;
  p->refs = 1;
  p->fd = file;
  p->prop.type = (CUmemAllocationType)d.type;
  p->prop.requestedHandleTypes = (CUmemAllocationHandleType)d.handle_types;
  p->prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  p->prop.location.id = d.loc_id;
  pthread_mutex_lock(&g_vmm_lock);
  p->next = g_phys;
  g_phys = p;
  pthread_mutex_unlock(&g_vmm_lock);
  *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
  return CUDA_SUCCESS;
}
