/*
 * CUDA IPC between softgpu processes: cuIpcGetMemHandle/OpenMemHandle/CloseMemHandle and
 * cuIpcGetEventHandle/OpenEventHandle.
 *
 * Memory. Every allocation lives in the arena's memory file (sg_mem.c, sg_mem_fd), at its arena
 * offset. A memory handle names that file as another process can reach it (the exporter's pid
 * and descriptor number, opened as /proc/<pid>/fd/<fd>: same user and ptrace-readable, as
 * softgpu's executors are), its inode (so that a reused pid or descriptor number is refused), and
 * the allocation's offset and size. Opening maps the allocation's pages of that file into the
 * importer's reservation space and makes exactly the allocation's granules live, so the importer's
 * copies and kernels reach those bytes and nothing next to them. The memory stays the exporter's:
 * it counts in the exporter's used memory only.
 *
 * Events. Execution is synchronous (event.c): an event is complete once recorded, and work
 * recorded before it is done, so an imported event needs no state of the exporter's to be
 * waited on. Its handle still names a small memory file of the exporter's (created on the first
 * export, closed with the event) so that only a live, exported event of a live process opens.
 *
 * A handle is 64 bytes (CU_IPC_HANDLE_SIZE): magic, pid, fd, inode, offset, size; the rest zero.
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

#define MEM_MAGIC 0x4d504973u /* "sIPM" */
#define EVENT_MAGIC 0x45504973u /* "sIPE" */

typedef struct wire_handle {
  uint32_t magic;
  uint32_t pid;
  int32_t fd;
  uint32_t zero;
  uint64_t ino;
  uint64_t off;
  uint64_t size;
  uint8_t pad[24];
} wire_handle;

_Static_assert(sizeof(wire_handle) == CU_IPC_HANDLE_SIZE, "an IPC handle is 64 bytes");

/* A handle opened in this process (memory), with its reference count. */
typedef struct opened {
  struct opened *next;
  uint32_t pid;
  uint64_t ino, off, size;
  CUdeviceptr va;     /* reservation start */
  uint64_t span;      /* pages mapped */
  CUdeviceptr ptr;    /* what the program got */
  int refs;
} opened;

/* An exported event: the file its handles name. */
typedef struct exported_event {
  struct exported_event *next;
  CUevent event;
  int fd;
  uint64_t ino;
} exported_event;

static pthread_mutex_t g_ipc_lock = PTHREAD_MUTEX_INITIALIZER;
static opened *g_opened;
static exported_event *g_events;

static uint64_t page_size(void) { return (uint64_t)sysconf(_SC_PAGESIZE); }

static int fd_inode(int fd, uint64_t *ino) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  *ino = (uint64_t)st.st_ino;
  return 0;
}

/* Opens the exporter's file named by h, checking it is the file the handle was made for. */
static int open_exported(const wire_handle *h) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/fd/%d", h->pid, h->fd);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  uint64_t ino;
  if (fd_inode(fd, &ino) != 0 || ino != h->ino) {
    close(fd);
    return -1;
  }
  return fd;
}

SG_EXPORT CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pHandle) return CUDA_ERROR_INVALID_VALUE;
  sg_devptr base;
  uint64_t size, ino;
  /* Only cuMemAlloc-style allocations of the arena's memory: not mappings, not imported memory.
   * Their pages must outlive their free while another process may have them open (sg_mem.h). */
  if (sg_mem_share((sg_devptr)dptr, &base, &size) != 0) return CUDA_ERROR_INVALID_VALUE;
  int fd = sg_mem_fd();
  if (fd < 0 || fd_inode(fd, &ino) != 0) return CUDA_ERROR_MAP_FAILED;
  wire_handle h = {MEM_MAGIC, (uint32_t)getpid(), fd, 0, ino, base - (uint64_t)(uintptr_t)sg_mem_arena_base(), size, {0}};
  memcpy(pHandle->reserved, &h, sizeof h);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pdptr || (Flags & ~(unsigned)CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS)) return CUDA_ERROR_INVALID_VALUE;
  wire_handle h;
  memcpy(&h, handle.reserved, sizeof h);
  if (h.magic != MEM_MAGIC || h.zero != 0 || h.size == 0 || h.off % SG_MEM_GRANULE) return CUDA_ERROR_INVALID_VALUE;
  /* A process cannot open its own handles (the driver says so with this error). */
  if (h.pid == (uint32_t)getpid()) return CUDA_ERROR_INVALID_CONTEXT;

  pthread_mutex_lock(&g_ipc_lock);
  for (opened *o = g_opened; o; o = o->next) {
    if (o->pid == h.pid && o->ino == h.ino && o->off == h.off && o->size == h.size) {
      o->refs++;
      *pdptr = o->ptr;
      pthread_mutex_unlock(&g_ipc_lock);
      return CUDA_SUCCESS;
    }
  }
  pthread_mutex_unlock(&g_ipc_lock);

  int fd = open_exported(&h);
  if (fd < 0) return CUDA_ERROR_INVALID_VALUE;
  struct stat st;
  uint64_t page = page_size();
  uint64_t first = h.off & ~(page - 1);
  uint64_t span = ((h.off + h.size + page - 1) & ~(page - 1)) - first;
  uint64_t live = (h.size + SG_MEM_GRANULE - 1) / SG_MEM_GRANULE * SG_MEM_GRANULE;
  if (fstat(fd, &st) != 0 || h.off > (uint64_t)st.st_size || h.size > (uint64_t)st.st_size - h.off) {
    close(fd);
    return CUDA_ERROR_INVALID_VALUE;
  }
  opened *o = calloc(1, sizeof *o);
  sg_devptr va;
  if (!o || sg_mem_reserve(span, page, 0, &va) != 0) {
    free(o);
    close(fd);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  int mapped = sg_mem_map_fd(va, span, fd, first) == 0;
  close(fd); /* the mapping keeps the file */
  if (!mapped) {
    sg_mem_unreserve(va, span);
    free(o);
    return CUDA_ERROR_MAP_FAILED;
  }
  *o = (opened){NULL, h.pid, h.ino, h.off, h.size, (CUdeviceptr)va, span, (CUdeviceptr)(va + (h.off - first)), 1};
  sg_mem_set_live(o->ptr, live, 1);
  pthread_mutex_lock(&g_ipc_lock);
  o->next = g_opened;
  g_opened = o;
  pthread_mutex_unlock(&g_ipc_lock);
  *pdptr = o->ptr;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  return cuIpcOpenMemHandle_v2(pdptr, handle, Flags);
}

SG_EXPORT CUresult cuIpcCloseMemHandle(CUdeviceptr dptr) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  pthread_mutex_lock(&g_ipc_lock);
  opened **at = &g_opened;
  while (*at && (*at)->ptr != dptr) at = &(*at)->next;
  opened *o = *at;
  if (!o) {
    pthread_mutex_unlock(&g_ipc_lock);
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (--o->refs > 0) {
    pthread_mutex_unlock(&g_ipc_lock);
    return CUDA_SUCCESS;
  }
  *at = o->next;
  pthread_mutex_unlock(&g_ipc_lock);
  /* The driver's synchronous execution has no work in flight that could still use it. */
  sg_mem_unmap(o->va, o->span);
  sg_mem_unreserve(o->va, o->span);
  free(o);
  return CUDA_SUCCESS;
}

int sg_ipc_range(CUdeviceptr p, CUdeviceptr *base, uint64_t *size) {
  pthread_mutex_lock(&g_ipc_lock);
  opened *o = g_opened;
  while (o && !(p >= o->ptr && p - o->ptr < o->size)) o = o->next;
  if (o) {
    *base = o->ptr;
    *size = o->size;
  }
  pthread_mutex_unlock(&g_ipc_lock);
  return o ? 0 : -1;
}

/* ---- events ------------------------------------------------------------------------------------ */

SG_EXPORT CUresult cuIpcGetEventHandle(CUipcEventHandle *pHandle, CUevent event) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!pHandle) return CUDA_ERROR_INVALID_VALUE;
  unsigned flags;
  CUresult rc = sg_event_flags(event, &flags);
  if (rc) return rc;
  if (!(flags & CU_EVENT_INTERPROCESS)) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_ipc_lock);
  exported_event *x = g_events;
  while (x && x->event != event) x = x->next;
  if (!x) {
    x = calloc(1, sizeof *x);
    int fd = x ? memfd_create("softgpu-ipc-event", MFD_CLOEXEC) : -1;
    uint64_t ino;
    if (fd < 0 || fd_inode(fd, &ino) != 0) {
      if (fd >= 0) close(fd);
      free(x);
      pthread_mutex_unlock(&g_ipc_lock);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *x = (exported_event){g_events, event, fd, ino};
    g_events = x;
  }
  wire_handle h = {EVENT_MAGIC, (uint32_t)getpid(), x->fd, 0, x->ino, 0, 0, {0}};
  pthread_mutex_unlock(&g_ipc_lock);
  memcpy(pHandle->reserved, &h, sizeof h);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuIpcOpenEventHandle(CUevent *phEvent, CUipcEventHandle handle) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!phEvent) return CUDA_ERROR_INVALID_VALUE;
  wire_handle h;
  memcpy(&h, handle.reserved, sizeof h);
  if (h.magic != EVENT_MAGIC || h.zero != 0 || h.off != 0 || h.size != 0) return CUDA_ERROR_INVALID_VALUE;
  if (h.pid == (uint32_t)getpid()) return CUDA_ERROR_INVALID_CONTEXT;
  int fd = open_exported(&h);
  if (fd < 0) return CUDA_ERROR_INVALID_VALUE;
  close(fd);
  /* A local event standing for the exporter's: complete whenever asked (see the top). */
  return cuEventCreate(phEvent, CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS);
}

void sg_ipc_event_gone(CUevent event) {
  pthread_mutex_lock(&g_ipc_lock);
  for (exported_event **at = &g_events; *at; at = &(*at)->next) {
    if ((*at)->event == event) {
      exported_event *x = *at;
      *at = x->next;
      close(x->fd);
      free(x);
      break;
    }
  }
  pthread_mutex_unlock(&g_ipc_lock);
}
