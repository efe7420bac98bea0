/*
 * The shared region (docs/protocol.md, "Shared memory"): page-locked allocations are carved from
 * memory this process shares with its executor, so a copy from or to one names a range of the
 * region (vgShmHtoD, vgShmDtoH) instead of carrying the bytes through the socket, and the
 * executor's driver copies straight from or into the same pages.
 *
 * Where it comes from, on the first page-locked allocation of a host of protocol minor 4 or later:
 *  - on a Unix socket (local processes, containers): a memfd this process makes, sealed against
 *    shrinking, handed to the executor over the socket (vgShmOffer), sized by VGPU_SHM_SIZE /
 *    shm_size (default 1 GiB, of which only the pages used are ever backed);
 *  - otherwise (a VM, over vsock or TCP): the VM's ivshmem region, PCI 1af4:1110's BAR2 (or
 *    VGPU_SHM_DEVICE / shm_device), which the host maps from the VM's file in the store. Every
 *    process of the VM shares it: each claims a slice of its own (VGPU_SHM_SIZE, or what is left)
 *    in a table at the start of the region, under flock on the resource file; a slice whose
 *    process is gone is claimed again.
 * Either way vgShmCheck proves the executor maps the same bytes (a nonce at the slice's start).
 * Without a region (TCP or TLS to a host without one, refused, size 0) page-locked memory is
 * ordinary memory and copies go through the socket.
 *
 * The region is never unmapped while the process lives: blocks of it are handed out. It is not
 * inherited by a fork child (MADV_DONTFORK): the child's address range stays reserved (so none
 * of its own mappings lands where the parent's blocks were) and it makes its own region.
 */
#include "vgcuda.h"

#include "conf.h"
#include "rpc.h"
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SIZE ((uint64_t)1 << 30)
#define MAX_SIZE ((uint64_t)64 << 30) /* the executor maps no more (src/executor/shm.ts) */
#define NONCE_LEN 16
#define FD_BYTE 0x53 /* sent with the descriptor, outside any frame */
#define SHM_PTDS 1u  /* copy flags: the per-thread default stream variant */
#define PCI_DEVICES "/sys/bus/pci/devices"
#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110
/* The slice table at the start of a VM's region (docs/virtual-machines.md, "Shared memory"). */
#define TABLE_MAGIC 0x314d485355504756ull /* "VGPUSHM1" */
#define TABLE_SLOTS 64
#define TABLE_BYTES 4096
#define MIN_SLICE ((size_t)1 << 20)

typedef struct slot {
  uint32_t pid; /* 0: free */
  uint32_t reserved;
  uint64_t off, len;
} slot;

typedef struct table {
  uint64_t magic;
  uint32_t nslots;
  uint32_t reserved;
  slot slots[TABLE_SLOTS];
} table;

_Static_assert(sizeof(table) <= TABLE_BYTES, "the slice table fits its page");

typedef struct extent {
  size_t off, len;
} extent;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static uint8_t *g_base; /* published by g_active (release); fixed for the region's life */
static size_t g_size;
static int g_active;     /* the executor maps the region (vgShmCheck passed) */
static int g_tried;      /* set up (or failed to) on this process's connection */
static extent *g_free;   /* free extents of this process's slice, sorted by offset, never adjacent */
static size_t g_nfree, g_capfree;

/* The staging block (vg_shm_stage_take): made on first use, kept for the process's life. A flag,
 * not a mutex, says who has it: a fork child, whose region is gone, just forgets it. */
#define STAGE_BYTES ((size_t)4 << 20)
static uint8_t *g_stage; /* under g_lock */
static int g_stage_tried; /* under g_lock */
static int g_stage_local = -1; /* under g_lock: the connection is a Unix socket (1) or not (0) */
static int g_stage_busy;  /* atomic */

static void fork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&g_lock); }

/* The child's session is new and its executor maps nothing yet: keep the parent's range reserved
 * (it is absent here: MADV_DONTFORK), forget it, and make a region of its own on demand. */
static void fork_child(void) {
  if (g_base) (void)mmap(g_base, g_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  __atomic_store_n(&g_active, 0, __ATOMIC_RELEASE);
  g_base = NULL;
  g_size = 0;
  g_tried = 0;
  g_nfree = 0;
  g_stage = NULL;
  g_stage_tried = 0;
  g_stage_local = -1;
  __atomic_store_n(&g_stage_busy, 0, __ATOMIC_RELEASE);
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
  if (errno || *end || s[0] == '-' || v > MAX_SIZE / mul) {
    vg_log(VG_LOG_WARN, "ignoring shm_size '%s' (want bytes with an optional K, M or G suffix, at most 64G); using 1G", s);
    return DEFAULT_SIZE;
  }
  return (uint64_t)v * mul;
}

/* Proves the executor maps these bytes: a fresh nonce at `off` of the region, vgShmCheck. */
static CUresult check(uint8_t *base, size_t size, size_t off) {
  uint8_t nonce[NONCE_LEN];
  if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) return CUDA_ERROR_OPERATING_SYSTEM;
  memcpy(base + off, nonce, sizeof nonce);
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_vgShmCheck, 0);
  if (r) return r;
  vg_put_u64(&c, off);
  vg_put_raw(&c, nonce, sizeof nonce);
  r = vg_call_invoke(&c);
  uint64_t mapped = r == CUDA_SUCCESS ? vg_get_u64(&c) : 0;
  if ((r = vg_call_end(&c, r))) return r;
  return mapped == size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Hands fd to the executor: vgShmOffer, then the descriptor. */
static CUresult offer(int fd, size_t size) {
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_vgShmOffer, 0);
  if (r) return r;
  vg_put_u64(&c, size);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && vg_session_send_fd(FD_BYTE, fd)) r = CUDA_ERROR_DEVICE_UNAVAILABLE;
  return vg_call_end(&c, r);
}

/* A local region: a sealed memfd of `size` bytes, handed over. Slice: all but the first page. */
static CUresult make_memfd(size_t size, uint8_t **base, size_t *lo) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (size <= page) return CUDA_ERROR_INVALID_VALUE;
  int fd = memfd_create("vgpu-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
  uint8_t *p = MAP_FAILED;
  CUresult r = CUDA_ERROR_OPERATING_SYSTEM;
  /* Sealed so the executor can trust its mapping: the file can never shrink under it. */
  if (ftruncate(fd, (off_t)size) == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0 &&
      (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED) {
    (void)madvise(p, size, MADV_DONTFORK);
    r = offer(fd, size);
    if (r == CUDA_SUCCESS) r = check(p, size, 0);
  }
  close(fd);
  if (r) {
    if (p != MAP_FAILED) munmap(p, size);
    return r;
  }
  *base = p;
  *lo = page;
  return CUDA_SUCCESS;
}

static unsigned long read_hex(const char *dir, const char *name) {
  char path[512], buf[32] = "";
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
  fclose(f);
  return strtoul(buf, NULL, 16);
}

/* The VM's ivshmem BAR2: shm_device, or the first PCI device 1af4:1110. fd, or -1. */
static int open_ivshmem(char *path, size_t cap) {
  const char *dev = vg_conf_get()->shm_device;
  if (*dev) {
    snprintf(path, cap, "%s", dev);
    return open(path, O_RDWR | O_CLOEXEC);
  }
  DIR *d = opendir(PCI_DEVICES);
  if (!d) return -1;
  int fd = -1;
  for (struct dirent *e; fd < 0 && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char dir[300];
    snprintf(dir, sizeof dir, PCI_DEVICES "/%s", e->d_name);
    if (read_hex(dir, "vendor") != IVSHMEM_VENDOR || read_hex(dir, "device") != IVSHMEM_DEVICE) continue;
    snprintf(path, cap, "%s/resource2", dir);
    fd = open(path, O_RDWR | O_CLOEXEC);
  }
  closedir(d);
  return fd;
}

static int slot_live(const slot *s) {
  return s->pid != 0 && s->pid != (uint32_t)getpid() && !(kill((pid_t)s->pid, 0) != 0 && errno == ESRCH);
}

/* Claims this process's slice of a VM's region (flock held): the table is made when missing,
 * slices of processes that are gone are freed, and the largest gap (at most `want`) is taken. */
static int claim_slice(uint8_t *base, size_t size, size_t want, size_t *off, size_t *len) {
  table *t = (table *)base;
  if (t->magic != TABLE_MAGIC || t->nslots != TABLE_SLOTS) {
    memset(t, 0, sizeof *t);
    t->nslots = TABLE_SLOTS;
    t->magic = TABLE_MAGIC;
  }
  int free_slot = -1;
  for (int i = 0; i < TABLE_SLOTS; i++) {
    slot *s = &t->slots[i];
    if (s->pid && !slot_live(s)) memset(s, 0, sizeof *s);
    if (s->pid == 0 && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) return -1;
  /* The first gap of `want` bytes, else the largest gap, between the live slices. */
  slot live[TABLE_SLOTS];
  int n = 0;
  for (int i = 0; i < TABLE_SLOTS; i++) {
    if (!t->slots[i].pid) continue;
    int j = n++;
    for (; j > 0 && live[j - 1].off > t->slots[i].off; j--) live[j] = live[j - 1];
    live[j] = t->slots[i];
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t at = TABLE_BYTES > page ? TABLE_BYTES : page, best_off = 0, best_len = 0;
  for (int i = 0; i <= n; i++) {
    size_t next = i < n && live[i].off < size ? (size_t)live[i].off : size;
    if (next > at) {
      if (next - at >= want) {
        best_off = at, best_len = want;
        break;
      }
      if (next - at > best_len) best_off = at, best_len = next - at;
    }
    if (i < n && live[i].off + live[i].len > at) at = live[i].off + live[i].len > size ? size : (size_t)(live[i].off + live[i].len);
  }
  best_len &= ~(page - 1);
  if (best_len < MIN_SLICE) return -1;
  t->slots[free_slot] = (slot){.pid = (uint32_t)getpid(), .off = best_off, .len = best_len};
  *off = best_off;
  *len = best_len;
  return 0;
}

/* A VM's region: its ivshmem BAR, a slice of it this process's. */
static CUresult map_ivshmem(size_t want, uint8_t **base, size_t *size, size_t *lo, size_t *hi) {
  char path[VG_CONF_VALUE_MAX + 64];
  int fd = open_ivshmem(path, sizeof path);
  if (fd < 0) return CUDA_ERROR_NOT_FOUND;
  struct stat st;
  uint8_t *p = MAP_FAILED;
  CUresult r = CUDA_ERROR_OPERATING_SYSTEM;
  size_t off = 0, len = 0;
  if (fstat(fd, &st) == 0 && st.st_size > TABLE_BYTES && (uint64_t)st.st_size <= MAX_SIZE &&
      (p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED) {
    (void)madvise(p, (size_t)st.st_size, MADV_DONTFORK);
    if (flock(fd, LOCK_EX) == 0) {
      r = claim_slice(p, (size_t)st.st_size, want, &off, &len) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
      (void)flock(fd, LOCK_UN);
    }
    if (r == CUDA_SUCCESS) r = check(p, (size_t)st.st_size, off);
  }
  close(fd);
  if (r) {
    if (p != MAP_FAILED) munmap(p, (size_t)st.st_size);
    vg_log(VG_LOG_INFO, "%s: no shared slice (CUresult %d)", path, (int)r);
    return r;
  }
  *base = p;
  *size = (size_t)st.st_size;
  /* The nonce's page stays out of the allocator. */
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  *lo = off + page;
  *hi = off + len;
  return *hi > *lo ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* Makes the region (g_lock held). Failures leave page-locked memory ordinary, said once. */
static void setup(void) {
  g_tried = 1;
  uint64_t want = configured_size();
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t size = (size_t)((want + page - 1) & ~(uint64_t)(page - 1));
  if (size == 0) return;
  if (vg_session_lock() != VG_SESS_OK) return;
  int local = vg_session_is_unix();
  int minor_ok = vg_session_minor() >= VG_PROTO_MINOR_SHM;
  vg_session_unlock();
  if (!minor_ok) return;
  uint8_t *base = NULL;
  size_t lo = 0, hi = size;
  CUresult r = local ? make_memfd(size, &base, &lo) : map_ivshmem(size, &base, &size, &lo, &hi);
  if (r) {
    if (local) vg_log(VG_LOG_INFO, "no shared region (CUresult %d): copies of page-locked memory go through the socket", (int)r);
    return;
  }
  extent *f = malloc(16 * sizeof *f);
  if (!f) return; /* the mapping stays, unused */
  g_free = f;
  g_capfree = 16;
  g_free[0] = (extent){.off = lo, .len = hi - lo};
  g_nfree = 1;
  g_base = base;
  g_size = size;
  __atomic_store_n(&g_active, 1, __ATOMIC_RELEASE);
  vg_log(VG_LOG_DEBUG, "shared region of %zu bytes in use (%zu for this process)", size, hi - lo);
}

/* Asks the executor to register (pin) or release a block with its driver, so a real GPU copies it
 * by DMA. Best effort: a block the driver would not register is still shared, copied by the
 * driver's staging. */
static void pin(uint32_t op, size_t off, size_t n) {
  vg_call c;
  if (vg_call_begin(&c, op, 0)) return;
  vg_put_u64(&c, off);
  if (op == VG_OP_vgShmPin) vg_put_u64(&c, n);
  CUresult r = vg_call_end(&c, vg_call_invoke(&c));
  if (r) vg_log(VG_LOG_DEBUG, "%s of %zu bytes at %zu: CUresult %d", op == VG_OP_vgShmPin ? "pinning" : "unpinning", n, off, (int)r);
}

/* A block of n bytes from the free extents (g_lock held), or NULL. */
static void *carve(size_t n, size_t *offp) {
  void *p = NULL;
  size_t off = 0;
  for (size_t i = 0; g_active && i < g_nfree; i++) {
    if (g_free[i].len < n) continue;
    off = g_free[i].off;
    p = g_base + off;
    g_free[i].off += n;
    g_free[i].len -= n;
    if (g_free[i].len == 0) {
      memmove(&g_free[i], &g_free[i + 1], (g_nfree - i - 1) * sizeof *g_free);
      g_nfree--;
    }
    break;
  }
  *offp = off;
  return p;
}

void *vg_shm_alloc(size_t n) {
  pthread_once(&g_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  if (!g_tried) setup();
  size_t off = 0;
  void *p = carve(n, &off);
  pthread_mutex_unlock(&g_lock);
  if (p) pin(VG_OP_vgShmPin, off, n);
  return p;
}

/* Whether this process's connection is a Unix socket (its region would be a memfd of its own). */
static int local_connection(void) {
  if (vg_session_lock() != VG_SESS_OK) return 0;
  int local = vg_session_is_unix();
  vg_session_unlock();
  return local;
}

/* Copies of pageable memory go through this block when the process has a region, as a driver
 * stages them through page-locked buffers: the guest copies the bytes in (or out) once, and the
 * executor's driver copies between the block and the device (DMA on a GPU, the block being
 * registered), instead of the bytes crossing the socket (a kernel copy on each side). On a Unix
 * socket the first large copy makes the region; in a VM only a process that already has its
 * slice (for page-locked memory) stages, so that copies alone never claim a share of the VM's
 * region, which its processes divide among themselves (claim_slice). */
uint8_t *vg_shm_stage_take(size_t *len, uint64_t *off) {
  int idle = 0;
  if (!__atomic_compare_exchange_n(&g_stage_busy, &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return NULL;
  pthread_once(&g_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  uint8_t *p = g_stage;
  size_t o = 0;
  int made = 0;
  if (!p && !g_stage_tried) {
    if (!g_tried && g_stage_local < 0) g_stage_local = local_connection();
    if (g_tried || g_stage_local == 1) {
      g_stage_tried = 1;
      if (!g_tried) setup();
      p = g_stage = carve(STAGE_BYTES, &o);
      made = p != NULL;
    }
  }
  uint8_t *base = g_base;
  pthread_mutex_unlock(&g_lock);
  if (!p) {
    __atomic_store_n(&g_stage_busy, 0, __ATOMIC_RELEASE);
    return NULL;
  }
  if (made) pin(VG_OP_vgShmPin, o, STAGE_BYTES);
  *len = STAGE_BYTES;
  *off = (uint64_t)(p - base);
  return p;
}

void vg_shm_stage_give(void) { __atomic_store_n(&g_stage_busy, 0, __ATOMIC_RELEASE); }

void vg_shm_free(void *p, size_t n) {
  uintptr_t a = (uintptr_t)p, b;
  /* A block of a region this process no longer has (a fork child's inheritance) is left alone. */
  if (!vg_shm_range(p, n, &(uint64_t){0})) return;
  b = (uintptr_t)g_base;
  /* Released before the block can be handed out again. */
  pin(VG_OP_vgShmUnpin, a - b, n);
  pthread_mutex_lock(&g_lock);
  if (!g_active || (uintptr_t)g_base != b) { /* forked meanwhile */
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
