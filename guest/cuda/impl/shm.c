/*
 * The shared region (docs/protocol.md, "Shared memory"): page-locked allocations are carved from
 * a memfd this process shares with its executor, so a copy from or to one names a range of the
 * region (vgShmHtoD, vgShmDtoH) instead of carrying the bytes through the socket, and the
 * executor's driver copies straight from or into the same pages.
 *
 * Made on the first page-locked allocation of a connection that can carry a descriptor (a Unix
 * socket to a host of protocol minor 4 or later); sized by VGPU_SHM_SIZE / shm_size (default
 * 1 GiB, of which only the pages used are ever backed). Without one (TCP, TLS, vsock, the host
 * refused it, size 0) page-locked memory is ordinary memory and copies go through the socket.
 *
 * The region is never unmapped while the process lives: blocks of it are handed out. It is not
 * inherited by a fork child (MADV_DONTFORK): the child's address range stays reserved (so none
 * of its own mappings lands where the parent's blocks were) and it makes its own region.
 */
#include "vgcuda.h"

#include "conf.h"
#include "rpc.h"
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define DEFAULT_SIZE ((uint64_t)1 << 30)
#define MAX_SIZE ((uint64_t)64 << 30) /* the executor maps no more (src/executor/shm.ts) */
#define NONCE_LEN 16
#define FD_BYTE 0x53 /* sent with the descriptor, outside any frame */
#define SHM_PTDS 1u  /* copy flags: the per-thread default stream variant */

typedef struct extent {
  size_t off, len;
} extent;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static uint8_t *g_base; /* published by g_active (release); fixed for the region's life */
static size_t g_size;
static int g_active;     /* the executor maps the region (vgShmCheck passed) */
static int g_tried;      /* set up (or failed to) on this process's connection */
static extent *g_free;   /* free extents, sorted by offset, never adjacent */
static size_t g_nfree, g_capfree;

static void fork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&g_lock); }

/* The child's session is new and its executor maps nothing: keep the parent's range reserved (it
 * is absent here: MADV_DONTFORK), forget it, and make a region of its own on demand. */
static void fork_child(void) {
  if (g_base) (void)mmap(g_base, g_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  __atomic_store_n(&g_active, 0, __ATOMIC_RELEASE);
  g_base = NULL;
  g_size = 0;
  g_tried = 0;
  g_nfree = 0;
  pthread_mutex_unlock(&g_lock);
}

static void register_atfork(void) { (void)pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* VGPU_SHM_SIZE / shm_size: bytes with an optional K, M or G suffix; 0 turns the region off. */
static uint64_t configured_size(void) {
  const char *s = vg_conf_get()->shm_size;
  if (!*s) return DEFAULT_SIZE;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
  else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
  else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
  if (errno || *end || s[0] == '-' || v > MAX_SIZE / mul || v * mul > MAX_SIZE) {
    vg_log(VG_LOG_WARN, "ignoring shm_size '%s' (want bytes with an optional K, M or G suffix, at most 64G); using 1G", s);
    return DEFAULT_SIZE;
  }
  return (uint64_t)v * mul;
}

/* Hands fd to the executor (vgShmOffer, then the descriptor) and proves both map the same pages
 * (vgShmCheck with a nonce at offset 0). Returns 0 when the executor uses the region. */
static CUresult offer(int fd, uint8_t *base, size_t size) {
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_vgShmOffer, 0);
  if (r) return r;
  if (vg_session_minor() < VG_PROTO_MINOR_SHM || !vg_session_is_unix()) {
    /* Nothing sent: the call ends unsent. */
    return vg_call_end(&c, CUDA_ERROR_NOT_SUPPORTED);
  }
  vg_put_u64(&c, size);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && vg_session_send_fd(FD_BYTE, fd)) r = CUDA_ERROR_DEVICE_UNAVAILABLE;
  if ((r = vg_call_end(&c, r))) return r;
  uint8_t nonce[NONCE_LEN];
  if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) return CUDA_ERROR_OPERATING_SYSTEM;
  memcpy(base, nonce, sizeof nonce);
  if ((r = vg_call_begin(&c, VG_OP_vgShmCheck, 0))) return r;
  vg_put_u64(&c, 0);
  vg_put_raw(&c, nonce, sizeof nonce);
  r = vg_call_invoke(&c);
  uint64_t mapped = r == CUDA_SUCCESS ? vg_get_u64(&c) : 0;
  if ((r = vg_call_end(&c, r))) return r;
  return mapped == size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Makes the region (g_lock held). Failures leave page-locked memory ordinary, said once. */
static void setup(void) {
  g_tried = 1;
  uint64_t want = configured_size();
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t size = (size_t)((want + page - 1) & ~(uint64_t)(page - 1));
  if (size == 0) return;
  int fd = memfd_create("vgpu-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    vg_log(VG_LOG_INFO, "no shared region (memfd_create: %s): copies go through the socket", strerror(errno));
    return;
  }
  uint8_t *base = MAP_FAILED;
  CUresult r = CUDA_ERROR_OPERATING_SYSTEM;
  /* Sealed so the executor can trust its mapping: the file can never shrink under it. */
  if (ftruncate(fd, (off_t)size) == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0 &&
      (base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED) {
    (void)madvise(base, size, MADV_DONTFORK);
    r = offer(fd, base, size);
  }
  close(fd);
  if (r) {
    if (base != MAP_FAILED) munmap(base, size);
    vg_log(VG_LOG_INFO, "no shared region (CUresult %d): copies of page-locked memory go through the socket", (int)r);
    return;
  }
  extent *f = malloc(16 * sizeof *f);
  if (!f) {
    munmap(base, size);
    return;
  }
  /* The first page holds vgShmCheck's nonce. */
  g_free = f;
  g_capfree = 16;
  g_free[0] = (extent){.off = page, .len = size - page};
  g_nfree = size > page;
  g_base = base;
  g_size = size;
  __atomic_store_n(&g_active, 1, __ATOMIC_RELEASE);
  vg_log(VG_LOG_DEBUG, "shared region of %zu bytes in use", size);
}

void *vg_shm_alloc(size_t n) {
  pthread_once(&g_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  if (!g_tried) setup();
  void *p = NULL;
  for (size_t i = 0; g_active && i < g_nfree; i++) {
    if (g_free[i].len < n) continue;
    p = g_base + g_free[i].off;
    g_free[i].off += n;
    g_free[i].len -= n;
    if (g_free[i].len == 0) {
      memmove(&g_free[i], &g_free[i + 1], (g_nfree - i - 1) * sizeof *g_free);
      g_nfree--;
    }
    break;
  }
  pthread_mutex_unlock(&g_lock);
  return p;
}

void vg_shm_free(void *p, size_t n) {
  pthread_mutex_lock(&g_lock);
  uintptr_t a = (uintptr_t)p, b = (uintptr_t)g_base;
  /* A block of a region this process no longer has (a fork child's inheritance) is left alone. */
  if (!g_active || a < b || a - b >= g_size || n > g_size - (a - b)) {
    pthread_mutex_unlock(&g_lock);
    return;
  }
  size_t off = a - b;
  size_t i = 0;
  while (i < g_nfree && g_free[i].off < off) i++;
  int join_prev = i > 0 && g_free[i - 1].off + g_free[i - 1].len == off;
  int join_next = i < g_nfree && off + n == g_free[i].off;
  if (join_prev && join_next) {
    g_free[i - 1].len += n + g_free[i].len;
    memmove(&g_free[i], &g_free[i + 1], (g_nfree - i - 1) * sizeof *g_free);
    g_nfree--;
  } else if (join_prev) {
    g_free[i - 1].len += n;
  } else if (join_next) {
    g_free[i].off = off;
    g_free[i].len += n;
  } else {
    if (g_nfree == g_capfree) {
      extent *f = realloc(g_free, g_capfree * 2 * sizeof *f);
      if (!f) { /* the block stays out of use: leaked, never handed out twice */
        pthread_mutex_unlock(&g_lock);
        return;
      }
      g_free = f;
      g_capfree *= 2;
    }
    memmove(&g_free[i + 1], &g_free[i], (g_nfree - i) * sizeof *g_free);
    g_free[i] = (extent){.off = off, .len = n};
    g_nfree++;
  }
  /* The pages go back to the file: a freed block costs no memory. */
  (void)madvise(p, n, MADV_REMOVE);
  pthread_mutex_unlock(&g_lock);
}

int vg_shm_range(const void *p, size_t n, uint64_t *off) {
  if (!__atomic_load_n(&g_active, __ATOMIC_ACQUIRE) || n == 0) return 0;
  uintptr_t a = (uintptr_t)p, b = (uintptr_t)g_base;
  if (a < b || a - b >= g_size || n > g_size - (a - b)) return 0;
  *off = a - b;
  return 1;
}

CUresult vg_shm_copy(uint32_t op, CUdeviceptr dev, uint64_t off, size_t n, const CUstream *stream, int ptds) {
  int htod = op == VG_OP_vgShmHtoD || op == VG_OP_vgShmHtoDAsync;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, op == VG_OP_vgShmHtoDAsync ? VG_CALL_ASYNC : VG_CALL_SYNC);
  if (r) return r;
  if (vg_call_tracing(&c)) {
    vg_targ(&c.trace, 0, VG_TA_HEX, htod ? "dstDevice" : "srcDevice", dev);
    vg_targ(&c.trace, 0, VG_TA_SIZE, "ByteCount", n);
    vg_targ(&c.trace, 0, VG_TA_SIZE, "shmOffset", off);
    if (stream) vg_targ(&c.trace, 0, VG_TA_PTR, "hStream", (uint64_t)(uintptr_t)*stream);
  }
  if (htod) {
    vg_put_u64(&c, dev);
    vg_put_u64(&c, off);
  } else {
    vg_put_u64(&c, off);
    vg_put_u64(&c, dev);
  }
  vg_put_u64(&c, n);
  if (stream) vg_put_handle(&c, VG_H_STREAM, *stream, 1);
  vg_put_u32(&c, ptds ? SHM_PTDS : 0);
  return vg_call_end(&c, vg_call_invoke(&c));
}
