/* The fake host of fakehost.h. Test-only code: it aborts the test on protocol surprises. */
#include "vgcuda.h"

#include "fakehost.h"
#include "vgtest.h"
#include "ops.h"
#include "status.h"
#include "wire.h"
#include "wire_status.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static pthread_mutex_t g_fh_lock = PTHREAD_MUTEX_INITIALIZER;

static void fh_bump(int *counter) {
  pthread_mutex_lock(&g_fh_lock);
  (*counter)++;
  pthread_mutex_unlock(&g_fh_lock);
}

fh_conn_stats fh_get(fakehost *fh, int i) {
  pthread_mutex_lock(&g_fh_lock);
  fh_conn_stats s = fh->conn[i];
  pthread_mutex_unlock(&g_fh_lock);
  return s;
}

int fh_nconn(fakehost *fh) {
  pthread_mutex_lock(&g_fh_lock);
  int n = fh->nconn;
  pthread_mutex_unlock(&g_fh_lock);
  return n;
}

static int rd(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/* A host that stopped answering: it reads (and drops) whatever comes until the guest hangs up. */
static void drain_until_closed(int fd) {
  uint8_t sink[4096];
  while (read(fd, sink, sizeof sink) > 0) {}
}

static void wr(int fd, const void *p, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
    if (w <= 0) return;
    off += (size_t)w;
  }
}

static void send_frame(int fd, uint16_t type, uint16_t flags, uint32_t id, uint32_t op, const void *pl,
                       size_t n) {
  uint8_t h[VG_FRAME_HDR_LEN];
  vg_frame_hdr fh = {.len = (uint32_t)n, .type = type, .flags = flags, .id = id, .op = op};
  vg_wire_put_hdr(h, &fh);
  wr(fd, h, sizeof h);
  if (n) wr(fd, pl, n);
}

static void reply(int fd, uint32_t id, uint32_t result, const void *out, size_t n) {
  uint8_t buf[64];
  memcpy(buf, &result, 4);
  if (n) memcpy(buf + 4, out, n);
  send_frame(fd, VG_FT_REPLY, 0, id, 0, buf, 4 + n);
}

static void send_welcome(int fd, uint16_t minor) {
  vg_devrec dev[2];
  static int32_t attrs[2][150];
  for (int d = 0; d < 2; d++) {
    memset(&dev[d], 0, sizeof dev[d]);
    dev[d].name = d ? "vgpu test device 1" : "vgpu test device 0";
    for (int i = 0; i < 16; i++) dev[d].uuid[i] = (uint8_t)(0x10 * (d + 1) + i);
    dev[d].total_mem = (8ull << 30) * (uint64_t)(d + 1);
    dev[d].pci_domain = 0;
    dev[d].pci_bus = 0x65 + (uint32_t)d;
    dev[d].pci_device = 0;
    dev[d].nattr = 150;
    for (int i = 0; i < 150; i++) attrs[d][i] = i * 7 + d;
    attrs[d][75] = 8;  /* compute capability 8.6 */
    attrs[d][76] = 6;
    attrs[d][100] = INT32_MIN;
    dev[d].attr = attrs[d];
  }
  vg_welcome w = {.major = 1, .minor = minor, .host_flags = 1, .session = 77, .driver_version = 13000,
                  .vm_name = "test-vm", .count = 2, .dev = dev};
  vg_wr b;
  vg_wr_init(&b, VG_MAX_PAYLOAD);
  vg_welcome_encode(&b, &w);
  send_frame(fd, VG_FT_WELCOME, 0, 0, 0, b.p, b.len);
  vg_wr_free(&b);
}

typedef struct conn_arg {
  fakehost *fh;
  int fd;
  fh_conn_stats *st;
} conn_arg;

static uint64_t le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Handles the CALL frames of one connection. */
static void serve_calls(fakehost *fh, int fd, fh_conn_stats *st) {
  uint64_t next_ctx = 0x2000;
  for (;;) {
    uint8_t hb[VG_FRAME_HDR_LEN];
    vg_frame_hdr h;
    if (rd(fd, hb, sizeof hb)) return;
    if (vg_wire_get_hdr(hb, &h)) VGT_FAIL("fakehost: bad frame header");
    if (h.type == VG_FT_STATUS) {
      if (h.len || fh->mode != FH_STATUS || fh_get(fh, (int)(st - fh->conn)).attaches) VGT_FAIL("fakehost: bad STATUS");
      fh_bump(&st->statuses);
      vg_status_proc procs[2] = {{.pid = FH_STATUS_PID0, .used = 64ull << 20}, {.pid = FH_STATUS_PID1, .used = 32ull << 20}};
      vg_status_dev devs[2] = {{.gpu_pct = 42, .mem_pct = 7, .mem_used = 96ull << 20, .nproc = 2, .proc = procs}, {0}};
      vg_status sr = {.window_ms = 2000, .count = 2, .dev = devs};
      vg_wr b;
      vg_wr_init(&b, VG_MAX_PAYLOAD);
      vg_status_encode(&b, &sr);
      send_frame(fd, VG_FT_STATUS_REPLY, 0, h.id, 0, b.p, b.len);
      vg_wr_free(&b);
      continue;
    }
    if (h.type == VG_FT_ATTACH) {
      if (h.len || fh_get(fh, (int)(st - fh->conn)).attaches) VGT_FAIL("fakehost: bad or second ATTACH");
      fh_bump(&st->attaches);
      if (fh->mode == FH_HANG_ON_ATTACH) {
        drain_until_closed(fd);
        return;
      }
      if (fh->mode == FH_NOTICES) {
        vg_wr b;
        vg_wr_init(&b, VG_MAX_PAYLOAD);
        vg_error_encode(&b, &(vg_errmsg){.code = FH_GRACE_MS, .msg = "maintenance", .msg_len = 11});
        send_frame(fd, VG_FT_NOTIFY, 0, 0, VG_NOTICE_SHUTDOWN, b.p, b.len);
        vg_wr_free(&b);
      }
      int refuse = fh->mode == FH_REFUSE_ATTACH;
      const char *m = refuse ? "the pool has no room" : "ok";
      uint8_t pl[64];
      uint32_t code = refuse ? VG_WIRE_STATUS_ADMISSION : VG_WIRE_STATUS_OK;
      uint16_t n = (uint16_t)strlen(m);
      memcpy(pl, &code, 4);
      memcpy(pl + 4, &n, 2);
      memcpy(pl + 6, m, n);
      send_frame(fd, VG_FT_ATTACHED, 0, 0, 0, pl, 6u + n);
      if (refuse) return;
      continue;
    }
    if (h.type != VG_FT_CALL || h.len < 8) VGT_FAIL("fakehost: bad CALL frame");
    if (!fh_get(fh, (int)(st - fh->conn)).attaches) VGT_FAIL("fakehost: CALL before ATTACH");
    uint8_t *p = malloc(h.len);
    if (rd(fd, p, h.len)) return;
    pthread_mutex_lock(&g_fh_lock);
    st->frames++;
    if (h.flags & VG_FF_NOREPLY) st->noreply_frames++;
    if (h.flags & VG_FF_MORE) st->more_frames++;
    /* Pieces of one multi-frame call share its id; anything else must increase. */
    if (h.id < st->last_id || (h.id == st->last_id && !st->prev_more)) st->ids_increasing = 0;
    st->prev_more = (h.flags & VG_FF_MORE) != 0;
    st->last_id = h.id;
    st->last_ctx = le64(p);
    pthread_mutex_unlock(&g_fh_lock);
    if (fh->mode == FH_DROP_ON_CALL || fh->mode == FH_HANG_ON_CALL) {
      free(p);
      if (fh->mode == FH_HANG_ON_CALL) drain_until_closed(fd);
      return;
    }
    if (fh->mode == FH_CUT_REPLY) {
      uint8_t hb[VG_FRAME_HDR_LEN];
      vg_frame_hdr rh = {.len = 12, .type = VG_FT_REPLY, .id = h.id};
      vg_wire_put_hdr(hb, &rh);
      wr(fd, hb, sizeof hb);
      wr(fd, "\0\0\0\0\x01", 5);
      free(p);
      return;
    }
    if (fh->mode == FH_BAD_REPLY_ID) {
      reply(fd, h.id + 1000, 0, NULL, 0);
      free(p);
      continue;
    }
    const uint8_t *a = p + 8;
    size_t an = h.len - 8;
    uint64_t v;
    switch (h.op) {
    case VG_OP_cuDevicePrimaryCtxRetain:
      fh_bump(&st->retains);
      pthread_mutex_lock(&g_fh_lock);
      v = 0x1000 + (uint64_t)st->retains;
      pthread_mutex_unlock(&g_fh_lock);
      reply(fd, h.id, 0, &v, 8);
      break;
    case VG_OP_cuDevicePrimaryCtxRelease_v2: fh_bump(&st->releases); reply(fd, h.id, 0, NULL, 0); break;
    case VG_OP_cuDevicePrimaryCtxReset_v2: fh_bump(&st->resets); reply(fd, h.id, 0, NULL, 0); break;
    case VG_OP_cuDevicePrimaryCtxSetFlags_v2: reply(fd, h.id, 0, NULL, 0); break;
    case VG_OP_cuCtxCreate_v2:
      fh_bump(&st->creates);
      v = next_ctx++;
      reply(fd, h.id, 0, &v, 8);
      break;
    case VG_OP_cuCtxDestroy_v2: fh_bump(&st->destroys); reply(fd, h.id, 0, NULL, 0); break;
    case VG_OP_cuMemcpyHtoD_v2: case VG_OP_cuMemcpyHtoD_v2_ptds:
    case VG_OP_cuMemcpyHtoDAsync_v2: case VG_OP_cuMemcpyHtoDAsync_v2_ptsz: {
      uint64_t dst = le64(a), n = le64(a + 8);
      uint32_t res = 0;
      if (an < 16 + n) VGT_FAIL("fakehost: HtoD piece shorter than its bytes");
      if (dst < FH_MEM_BASE || dst - FH_MEM_BASE > FH_MEM_SIZE || n > FH_MEM_SIZE - (dst - FH_MEM_BASE))
        res = CUDA_ERROR_INVALID_VALUE;
      else
        memcpy(fh->mem + (dst - FH_MEM_BASE), a + 16, n);
      if (!(h.flags & (VG_FF_MORE | VG_FF_NOREPLY))) reply(fd, h.id, res, NULL, 0);
      break;
    }
    case VG_OP_cuMemcpyDtoH_v2: case VG_OP_cuMemcpyDtoH_v2_ptds:
    case VG_OP_cuMemcpyDtoHAsync_v2: case VG_OP_cuMemcpyDtoHAsync_v2_ptsz: {
      uint64_t src = le64(a), n = le64(a + 8);
      if (src < FH_MEM_BASE || src - FH_MEM_BASE > FH_MEM_SIZE || n > FH_MEM_SIZE - (src - FH_MEM_BASE)) {
        reply(fd, h.id, CUDA_ERROR_INVALID_VALUE, NULL, 0);
        break;
      }
      /* result, then the data in frames of at most dtoh_frame_max bytes, joined by MORE */
      uint32_t max = __atomic_load_n(&fh->dtoh_frame_max, __ATOMIC_RELAXED);
      if (!max) max = 1u << 20;
      uint8_t *out = malloc(4 + max);
      uint64_t off = 0;
      int first = 1;
      do {
        size_t hdr = first ? 4 : 0;
        uint64_t k = n - off < max - hdr ? n - off : max - hdr;
        if (first) memset(out, 0, 4);
        memcpy(out + hdr, fh->mem + (src - FH_MEM_BASE) + off, k);
        off += k;
        send_frame(fd, VG_FT_REPLY, off < n ? VG_FF_MORE : 0, h.id, 0, out, hdr + k);
        first = 0;
      } while (off < n);
      free(out);
      break;
    }
    case FH_OP_ECHO_SPLIT: {
      /* result 0, then the arguments echoed back, in 3-byte REPLY frames joined by MORE */
      uint8_t *out = malloc(4 + an);
      memset(out, 0, 4);
      memcpy(out + 4, a, an);
      if (fh->mode == FH_NOTICES) {
        send_frame(fd, VG_FT_NOTIFY, 0, 0, VG_NOTICE_STDOUT, "kernel ", 7);
        send_frame(fd, VG_FT_NOTIFY, 0, 0, 99, "ignored", 7);
        send_frame(fd, VG_FT_NOTIFY, 0, 0, VG_NOTICE_STDERR, "oops\n", 5);
      }
      for (size_t off = 0; off < 4 + an; off += 3) {
        size_t k = 4 + an - off < 3 ? 4 + an - off : 3;
        if (fh->mode == FH_NOTICES && off == 3) send_frame(fd, VG_FT_NOTIFY, 0, 0, VG_NOTICE_STDOUT, "says hi\n", 8);
        send_frame(fd, VG_FT_REPLY, off + k < 4 + an ? VG_FF_MORE : 0, h.id, 0, out + off, k);
      }
      free(out);
      break;
    }
    default:
      reply(fd, h.id, CUDA_ERROR_NOT_SUPPORTED, NULL, 0);
    }
    free(p);
  }
}

static void *conn_main(void *arg) {
  conn_arg *ca = arg;
  fakehost *fh = ca->fh;
  uint8_t hb[VG_FRAME_HDR_LEN];
  vg_frame_hdr h;
  if (fh->mode == FH_SILENT) {
    drain_until_closed(ca->fd);
    return NULL;
  }
  if (rd(ca->fd, hb, sizeof hb) || vg_wire_get_hdr(hb, &h) || h.type != VG_FT_HELLO) VGT_FAIL("fakehost: no HELLO");
  uint8_t *p = malloc(h.len ? h.len : 1);
  if (rd(ca->fd, p, h.len)) VGT_FAIL("fakehost: HELLO cut");
  vg_hello hello;
  if (vg_hello_decode(p, h.len, &hello)) VGT_FAIL("fakehost: bad HELLO");
  pthread_mutex_lock(&g_fh_lock);
  ca->st->hello_pid = hello.pid;
  pthread_mutex_unlock(&g_fh_lock);
  if (hello.token_len != 9 || memcmp(hello.token, "tok-tests", 9)) VGT_FAIL("fakehost: token not sent");
  free(p);
  if (fh->mode == FH_REFUSE) {
    const char *m = "unknown VM token";
    uint8_t e[64];
    uint32_t code = VG_WIRE_STATUS_AUTH;
    uint16_t n = (uint16_t)strlen(m);
    memcpy(e, &code, 4);
    memcpy(e + 4, &n, 2);
    memcpy(e + 6, m, n);
    send_frame(ca->fd, VG_FT_ERROR, 0, 0, code, e, 6u + n);
    close(ca->fd);
    return NULL;
  }
  send_welcome(ca->fd, fh->mode == FH_STATUS ? 2 : fh->mode == FH_NOTICES ? 3 : 0);
  serve_calls(fh, ca->fd, ca->st);
  close(ca->fd);
  return NULL;
}

static void *accept_main(void *arg) {
  fakehost *fh = arg;
  for (;;) {
    int fd = accept(fh->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    pthread_mutex_lock(&g_fh_lock);
    int i = fh->nconn < FH_MAX_CONN ? fh->nconn++ : -1;
    pthread_mutex_unlock(&g_fh_lock);
    if (i < 0) {
      close(fd);
      continue;
    }
    conn_arg *ca = malloc(sizeof *ca);
    ca->fh = fh;
    ca->fd = fd;
    ca->st = &fh->conn[i];
    pthread_mutex_lock(&g_fh_lock);
    ca->st->ids_increasing = 1;
    pthread_mutex_unlock(&g_fh_lock);
    pthread_t t;
    pthread_create(&t, NULL, conn_main, ca);
    pthread_detach(t);
  }
}

void fh_start(fakehost *fh, enum fh_mode mode) {
  memset(fh, 0, sizeof *fh);
  fh->mode = mode;
  fh->mem = calloc(1, FH_MEM_SIZE);
  snprintf(fh->path, sizeof fh->path, "/tmp/vgpu-guest-test-%d.sock", (int)getpid());
  unlink(fh->path);
  fh->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  strcpy(sun.sun_path, fh->path);
  if (bind(fh->lfd, (struct sockaddr *)&sun, sizeof sun) || listen(fh->lfd, 8)) VGT_FAIL("fakehost: cannot listen");
  char spec[128];
  snprintf(spec, sizeof spec, "unix:%s", fh->path);
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_TOKEN", "tok-tests", 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  unsetenv("CUDA_VISIBLE_DEVICES");
  pthread_t t;
  pthread_create(&t, NULL, accept_main, fh);
  pthread_detach(t);
}

void fh_point_at_dead_socket(void) {
  char spec[128];
  snprintf(spec, sizeof spec, "unix:/tmp/vgpu-guest-test-dead-%d.sock", (int)getpid());
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
}
