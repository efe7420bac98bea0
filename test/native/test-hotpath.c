/*
 * src/native/hotpath.c over socketpairs against softgpu (its sanitizer build, path in argv[1]). The
 * test plays the guest on one end of the connection and the executor on the other (its own end of
 * the connection and the control socketpair): hot calls answered natively; the connection handed
 * over at the first frame the C side does not serve, with what it read of it; handed back by the
 * marker or on request; hostile frames handed over (never served, never awaited); a shared
 * deferred error; launches and memsets checked against the mirrors; thousands of mixed frames answered once
 * each in call order whichever side served them; the guest's close reported; nothing leaked.
 */
#include "hotpath.h"
#include "check.h"

#include <cuda.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#define OP_CTX_SYNC 0x0131
#define OP_STREAM_QUERY 0x0305
#define OP_EVENT_RECORD 0x0401
#define OP_EVENT_QUERY 0x0406
#define OP_LAUNCH 0x0520
#define OP_MEMSET_D32 0x0232
#define OP_LAUNCH_EX 0x0522
#define FUNC_ID 0x1003

/* One kernel that stores 42 through its pointer parameter. */
static const char POKE_PTX[] =
    ".version 7.0\n"
    ".target sm_80\n"
    ".address_size 64\n"
    ".visible .entry poke(.param .u64 p)\n"
    "{\n"
    "  .reg .b32 %r<2>;\n"
    "  .reg .b64 %rd<3>;\n"
    "  ld.param.u64 %rd1, [p];\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n"
    "  mov.u32 %r1, 42;\n"
    "  st.global.u32 [%rd2], %r1;\n"
    "  ret;\n"
    "}\n";
#define CTX_ID 0x1000
#define STREAM_ID 0x1001
#define EVENT_ID 0x1002
#define T_CALL 3
#define T_REPLY 4
#define T_NOTIFY 8
#define NOREPLY 1
#define MORE 2

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* A CALL frame: header, u64 ctx, then `nargs` u64 arguments. Returns its length. */
static size_t call(uint8_t *b, uint16_t flags, uint32_t id, uint32_t op, int nargs, const uint64_t *args) {
  uint32_t len = 8 + 8 * (uint32_t)nargs;
  put32(b, len);
  b[4] = T_CALL; b[5] = 0;
  b[6] = (uint8_t)flags; b[7] = 0;
  put32(b + 8, id);
  put32(b + 12, op);
  put64(b + 16, CTX_ID);
  for (int i = 0; i < nargs; i++) put64(b + 24 + 8 * i, args[i]);
  return 16 + len;
}

/* A cuLaunchKernel CALL: function, grid/block 1, stream, `nparams` bytes of parameters (the
 * bytes field's length is `claimed`). */
static size_t launch_frame(uint8_t *b, uint32_t id, uint64_t fn, uint64_t stream, const void *params, uint32_t nparams, uint64_t claimed) {
  uint8_t *q = b + 16;
  put64(q, CTX_ID); q += 8;
  put64(q, fn); q += 8;
  for (int i = 0; i < 6; i++, q += 4) put32(q, 1);
  put32(q, 0); q += 4;
  put64(q, stream); q += 8;
  put64(q, claimed); q += 8;
  memcpy(q, params, nparams); q += nparams;
  uint32_t len = (uint32_t)(q - b - 16);
  put32(b, len);
  b[4] = T_CALL; b[5] = 0; b[6] = NOREPLY; b[7] = 0;
  put32(b + 8, id);
  put32(b + 12, OP_LAUNCH);
  return 16 + len;
}

/* The library makes its duplicate of the connection non-blocking, which makes the executor's end
 * (the same open file) non-blocking too: these wait where a read or write would block. */
static int wait_for(int fd, short ev) {
  struct pollfd p = {fd, ev, 0};
  return poll(&p, 1, -1) > 0 ? 0 : -1;
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *q = p;
  while (n > 0) {
    ssize_t w = write(fd, q, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN && wait_for(fd, POLLOUT) == 0) continue;
    if (w <= 0) return -1;
    q += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads exactly n bytes (blocking). */
static int read_all(int fd, void *p, size_t n) {
  uint8_t *q = p;
  while (n > 0) {
    ssize_t r = read(fd, q, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN && wait_for(fd, POLLIN) == 0) continue;
    if (r <= 0) return -1;
    q += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Reads one REPLY; returns its result, or -1 if something else came. */
static long reply(int fd, uint32_t want_id) {
  uint8_t b[20];
  if (read_all(fd, b, 20) != 0 || get32(b) != 4 || b[4] != T_REPLY || get32(b + 8) != want_id) return -1;
  return (long)get32(b + 16);
}

/* The executor's answer: a REPLY with `res`. */
static void js_reply(int js, uint32_t id, uint32_t res) {
  uint8_t b[20] = {0};
  put32(b, 4);
  b[4] = T_REPLY;
  put32(b + 8, id);
  put32(b + 16, res);
  write_all(js, b, sizeof b);
}

/* Hands the connection back to the C side. */
static void js_marker(int js) {
  uint8_t b[16] = {0};
  b[4] = (uint8_t)(VG_HOT_MARKER & 0xff);
  b[5] = (uint8_t)(VG_HOT_MARKER >> 8);
  write_all(js, b, sizeof b);
}

/* Reads one control frame from the C side: its type, its payload into p (at most cap bytes);
 * returns the payload's length, or -1. */
static long control(int js, uint16_t *type, uint8_t *p, size_t cap) {
  uint8_t hd[16];
  if (read_all(js, hd, 16) != 0) return -1;
  uint32_t len = get32(hd);
  *type = (uint16_t)(hd[4] | hd[5] << 8);
  if (len > cap || read_all(js, p, len) != 0) return -1;
  return (long)len;
}

/* Whether the next control frame hands the connection over with exactly `frame` (n bytes). */
static int taken(int js, const uint8_t *frame, size_t n) {
  static uint8_t got[70000];
  uint16_t type = 0;
  long k = control(js, &type, got, sizeof got);
  return type == VG_HOT_TAKE && k == (long)n && memcmp(got, frame, n) == 0;
}

/* The executor's part in the mixed run below: takes the connection when handed it, answers every
 * CALL that wants an answer (with 999) on its own end of the connection, and hands the connection
 * back whenever it has served all it read. Ends after the frame with op END_OP (handing back once
 * more). */
#define END_OP 0x0fff
struct fake_js {
  int js, host;
  unsigned served;
};

static void *fake_js_main(void *arg) {
  struct fake_js *f = arg;
  static uint8_t buf[4 << 20];
  for (;;) {
    uint16_t type = 0;
    long k = control(f->js, &type, buf, sizeof buf);
    if (k < 0 || type != VG_HOT_TAKE) return NULL;
    size_t have = (size_t)k;
    bool end = false;
    for (;;) {
      size_t at = 0;
      while (have - at >= 16 && have - at >= 16 + (size_t)get32(buf + at)) {
        uint32_t len = get32(buf + at);
        if (buf[at + 4] == T_CALL && !(buf[at + 6] & NOREPLY)) js_reply(f->host, get32(buf + at + 8), 999);
        if (get32(buf + at + 12) == END_OP) end = true;
        f->served++;
        at += 16 + len;
      }
      memmove(buf, buf + at, have - at);
      have -= at;
      /* Hand back as the executor does: as soon as all that was read is served. */
      if (have == 0) break;
      ssize_t r = read(f->host, buf + have, sizeof buf - have);
      if (r < 0 && (errno == EAGAIN || errno == EINTR) && wait_for(f->host, POLLIN) == 0) continue;
      if (r <= 0) return NULL;
      have += (size_t)r;
    }
    js_marker(f->js);
    if (end) return NULL;
  }
}

/* A guest streaming frames as fast as the connection takes them (its own thread). */
#define STREAM_LAUNCHES 20000
static uint8_t stream_frames[STREAM_LAUNCHES * 96 + 64];
struct stream_writer {
  int guest;
  size_t len;
  int failed;
};

static void *stream_writer_main(void *arg) {
  struct stream_writer *w = arg;
  w->failed = write_all(w->guest, stream_frames, w->len);
  return NULL;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static uint64_t stat(struct vg_hot *h, int i) {
  uint64_t s[VG_HOT_NSTATS];
  vg_hot_stats(h, s);
  return s[i];
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SOFTGPU_LIBRARY\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 2;
  }
#define SYM(name) ((__typeof__(&name))dlsym(lib, #name))
  CHECK("cuInit", SYM(cuInit)(0) == CUDA_SUCCESS);
  CUcontext ctx;
  CUstream stream;
  CUevent event;
  CHECK("context", SYM(cuCtxCreate_v4)(&ctx, NULL, 0, 0) == CUDA_SUCCESS);
  CHECK("stream", SYM(cuStreamCreate)(&stream, 0) == CUDA_SUCCESS);
  CHECK("event", SYM(cuEventCreate)(&event, 0) == CUDA_SUCCESS);

  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int guest = sv[0];
  int host = sv[1]; /* the executor's own end of the connection (the library has a duplicate) */
  int js = -1;
  struct vg_hot *h = vg_hot_start(host, argv[1], &js);
  CHECK("started", h != NULL && js >= 0);
  if (!h) return 1;
  vg_hot_handle_add(h, CTX_ID, 1, (uint64_t)(uintptr_t)ctx);
  vg_hot_handle_add(h, STREAM_ID, 2, (uint64_t)(uintptr_t)stream);
  vg_hot_handle_add(h, EVENT_ID, 3, (uint64_t)(uintptr_t)event);
  /* Many more, then most removed again: the mirror keeps the rest findable. */
  for (uint64_t i = 0; i < 1000; i++) vg_hot_handle_add(h, 0x2000 + i, 8, i + 1);
  for (uint64_t i = 0; i < 1000; i += 3) vg_hot_handle_remove(h, 0x2000 + i);
  vg_hot_allow(h, 1);
  vg_hot_set_notices(h, 1);
  /* The executor owns the connection first; it hands it over when it has nothing to do. */
  js_marker(js);

  uint8_t b[256];
  uint64_t a[2];
  size_t n;

  /* ---- served natively ---- */
  n = call(b, 0, 1, OP_CTX_SYNC, 0, a);
  write_all(guest, b, n);
  CHECK("cuCtxSynchronize answered natively", reply(guest, 1) == 0);
  a[0] = STREAM_ID;
  n = call(b, 0, 2, OP_STREAM_QUERY, 1, a);
  write_all(guest, b, n);
  CHECK("cuStreamQuery answered natively", reply(guest, 2) == 0);
  a[0] = EVENT_ID;
  a[1] = STREAM_ID;
  n = call(b, NOREPLY, 3, OP_EVENT_RECORD, 2, a);
  write_all(guest, b, n);
  a[0] = EVENT_ID;
  n = call(b, 0, 4, OP_EVENT_QUERY, 1, a);
  write_all(guest, b, n);
  CHECK("a NOREPLY record, then a query: one reply", reply(guest, 4) == 0);
  CHECK("four native calls, one of them NOREPLY", stat(h, VG_HOT_STAT_CALLS) == 4 && stat(h, VG_HOT_STAT_ASYNC_CALLS) == 1);
  CHECK("no switch so far", stat(h, VG_HOT_STAT_SWITCHES) == 0);

  /* The deferred error is one: set by the executor, reported by the next native sync. */
  vg_hot_defer(h, 719);
  n = call(b, 0, 5, OP_CTX_SYNC, 0, a);
  write_all(guest, b, n);
  CHECK("the deferred error comes back at the next sync", reply(guest, 5) == 719);
  CHECK("and only once", vg_hot_take_deferred(h) == 0);

  /* A memset inside a range the mirror knows runs here; one past its end is the executor's. */
  CUdeviceptr dmem;
  CHECK("alloc", SYM(cuMemAlloc_v2)(&dmem, 64) == CUDA_SUCCESS);
  vg_hot_range_add(h, dmem, 64);
  vg_hot_range_add(h, dmem + 4096, 16);
  vg_hot_range_remove(h, dmem + 4096, 16);
  {
    uint8_t m[16 + 8 + 20];
    uint64_t cnt = 16;
    put32(m, 28); m[4] = T_CALL; m[5] = 0; m[6] = 0; m[7] = 0;
    put32(m + 8, 50); put32(m + 12, OP_MEMSET_D32);
    put64(m + 16, CTX_ID); put64(m + 24, dmem); put32(m + 32, 0xabcdef01u); put64(m + 36, cnt);
    write_all(guest, m, sizeof m);
    uint32_t w[16] = {0};
    CHECK("a memset in range answered natively", reply(guest, 50) == 0 && SYM(cuMemcpyDtoH_v2)(w, dmem, sizeof w) == CUDA_SUCCESS && w[15] == 0xabcdef01u);
    CHECK("no switch for it", stat(h, VG_HOT_STAT_SWITCHES) == 0);
  }
  SYM(cuMemFree_v2)(dmem);

  /* A launch with valid handles runs here; its effect is seen by a native sync. */
  {
    CUmodule mod;
    CUfunction fn;
    CUdeviceptr cell;
    CHECK("module", SYM(cuModuleLoadData)(&mod, POKE_PTX) == CUDA_SUCCESS);
    CHECK("function", SYM(cuModuleGetFunction)(&fn, mod, "poke") == CUDA_SUCCESS);
    CHECK("cell", SYM(cuMemAlloc_v2)(&cell, 4) == CUDA_SUCCESS && SYM(cuMemsetD32_v2)(cell, 0, 1) == CUDA_SUCCESS);
    vg_hot_handle_add(h, FUNC_ID, 5, (uint64_t)(uintptr_t)fn);
    uint8_t lb[128];
    uint64_t pv = cell;
    n = launch_frame(lb, 60, FUNC_ID, STREAM_ID, &pv, 8, 8);
    write_all(guest, lb, n);
    n = call(b, 0, 61, OP_CTX_SYNC, 0, a);
    write_all(guest, b, n);
    int got42 = 0;
    CHECK("a launch and a sync answered natively", reply(guest, 61) == 0 && SYM(cuMemcpyDtoH_v2)(&got42, cell, 4) == CUDA_SUCCESS && got42 == 42);
    CHECK("no switch for them", stat(h, VG_HOT_STAT_SWITCHES) == 0);
    SYM(cuMemFree_v2)(cell);
    vg_hot_handle_remove(h, FUNC_ID);
    SYM(cuModuleUnload)(mod);
  }

  /* ---- a bad handle: the connection is handed over with that frame; the executor answers ---- */
  a[0] = 0x9999;
  n = call(b, 0, 6, OP_EVENT_QUERY, 1, a);
  write_all(guest, b, n);
  CHECK("a call with an unknown handle is handed over intact", taken(js, b, n));
  CHECK("one hand-over", stat(h, VG_HOT_STAT_SWITCHES) == 1);
  js_reply(host, 6, 400);
  CHECK("the executor's answer reaches the guest", reply(guest, 6) == 400);
  /* The connection is the executor's now: the C side reads nothing, hot calls included. */
  n = call(b, 0, 7, OP_CTX_SYNC, 0, a);
  write_all(guest, b, n);
  uint8_t got[256];
  CHECK("the executor reads the next call itself", read_all(host, got, n) == 0 && memcmp(got, b, n) == 0);
  js_reply(host, 7, 0);
  CHECK("reply 7", reply(guest, 7) == 0);
  uint64_t before = stat(h, VG_HOT_STAT_CALLS);
  js_marker(js);
  n = call(b, 0, 8, OP_CTX_SYNC, 0, a);
  write_all(guest, b, n);
  CHECK("handed back: served natively again", reply(guest, 8) == 0 && stat(h, VG_HOT_STAT_CALLS) == before + 1);
  CHECK("two hand-backs (the first at the start)", stat(h, VG_HOT_STAT_HANDBACKS) == 2);

  /* ---- the executor asks for the connection (it has a notice to write): handed over at once ---- */
  {
    uint8_t rq[16] = {0};
    rq[4] = (uint8_t)(VG_HOT_REQUEST & 0xff);
    rq[5] = (uint8_t)(VG_HOT_REQUEST >> 8);
    write_all(js, rq, sizeof rq);
    CHECK("an idle connection is handed over with nothing unserved", taken(js, b, 0));
    uint8_t nb[16 + 5] = {0};
    put32(nb, 5);
    nb[4] = T_NOTIFY;
    put32(nb + 12, 1);
    memcpy(nb + 16, "hello", 5);
    write_all(host, nb, sizeof nb);
    uint8_t gn[sizeof nb];
    CHECK("the executor writes its notice itself", read_all(guest, gn, sizeof gn) == 0 && memcmp(gn, nb, sizeof nb) == 0);
    js_marker(js);
    /* Asked for while a hot call is half sent: what the C side read of it (if it read it before
     * the request) goes with the connection, the executor reads the rest itself. */
    n = call(b, 0, 9, OP_CTX_SYNC, 0, a);
    write_all(guest, b, 10);
    write_all(js, rq, sizeof rq);
    uint16_t type = 0;
    uint8_t half[64];
    long k = control(js, &type, half, sizeof half);
    CHECK("asked for mid-frame: handed over with what was read of it", type == VG_HOT_TAKE && (k == 0 || k == 10) && memcmp(half, b, (size_t)(k > 0 ? k : 0)) == 0);
    write_all(guest, b + 10, n - 10);
    uint8_t rest9[64];
    size_t from = k > 0 ? (size_t)k : 0;
    CHECK("and the executor reads the rest itself", read_all(host, rest9, n - from) == 0 && memcmp(rest9, b + from, n - from) == 0);
    js_reply(host, 9, 0);
    CHECK("reply 9", reply(guest, 9) == 0);
    js_marker(js);
  }

  /* ---- not allowed (no GPU slice): handed over at once ---- */
  vg_hot_allow(h, 0);
  n = call(b, 0, 10, OP_CTX_SYNC, 0, a);
  write_all(guest, b, n);
  CHECK("without the slice a hot call goes to the executor", taken(js, b, n));
  js_reply(host, 10, 0);
  CHECK("reply 10", reply(guest, 10) == 0);
  js_marker(js);
  vg_hot_allow(h, 1);

  /* ---- the slice withdrawn while a guest streams launches: vg_hot_allow(0) returns after the
   * call under way, however fast the guest keeps the C side supplied (a mutex that is not fair let
   * the C side take it back after each call, and the executor waited out a whole run of launches
   * while another session waited for the GPU) ---- */
  {
    CUmodule mod;
    CUfunction fn;
    CUdeviceptr cell;
    CHECK("module", SYM(cuModuleLoadData)(&mod, POKE_PTX) == CUDA_SUCCESS);
    CHECK("function", SYM(cuModuleGetFunction)(&fn, mod, "poke") == CUDA_SUCCESS);
    CHECK("cell", SYM(cuMemAlloc_v2)(&cell, 4) == CUDA_SUCCESS);
    vg_hot_handle_add(h, FUNC_ID, 5, (uint64_t)(uintptr_t)fn);
    struct stream_writer sw = {guest, 0, 0};
    uint64_t pv = cell;
    for (uint32_t i = 0; i < STREAM_LAUNCHES; i++) sw.len += launch_frame(stream_frames + sw.len, 1000 + i, FUNC_ID, STREAM_ID, &pv, 8, 8);
    sw.len += call(stream_frames + sw.len, 0, 99, OP_CTX_SYNC, 0, a);
    uint64_t calls0 = stat(h, VG_HOT_STAT_CALLS), bytes0 = stat(h, VG_HOT_STAT_BYTES_IN);
    pthread_t wt;
    pthread_create(&wt, NULL, stream_writer_main, &sw);
    while (stat(h, VG_HOT_STAT_CALLS) < calls0 + 200) usleep(100);
    /* The executor's other updates wait no longer. */
    uint64_t before_add = stat(h, VG_HOT_STAT_CALLS);
    vg_hot_handle_add(h, 0x3000, 8, 1);
    uint64_t during_add = stat(h, VG_HOT_STAT_CALLS) - before_add;
    char what_add[120];
    snprintf(what_add, sizeof what_add, "mid-stream: a handle added after %llu more native call(s)", (unsigned long long)during_add);
    CHECK(what_add, during_add <= 2);
    vg_hot_handle_remove(h, 0x3000);
    uint64_t before_allow = stat(h, VG_HOT_STAT_CALLS);
    vg_hot_allow(h, 0);
    uint64_t during = stat(h, VG_HOT_STAT_CALLS) - before_allow;
    char what[120];
    snprintf(what, sizeof what, "withdrawn mid-stream: allow(0) returned after %llu more native call(s)", (unsigned long long)during);
    CHECK(what, during <= 2);
    /* The rest is the executor's: what the C side read but did not serve, then the connection. */
    static uint8_t rest_in[sizeof stream_frames];
    uint16_t type = 0;
    long k = control(js, &type, rest_in, sizeof rest_in);
    CHECK("handed over after the withdrawal", type == VG_HOT_TAKE && k >= 0);
    size_t native = (size_t)(stat(h, VG_HOT_STAT_BYTES_IN) - bytes0);
    size_t left = sw.len - native - (size_t)(k > 0 ? k : 0);
    CHECK("the C side served less than the whole stream", native < sw.len && left <= sw.len);
    while (left > 0) {
      ssize_t r = read(host, rest_in, left < sizeof rest_in ? left : sizeof rest_in);
      if (r < 0 && (errno == EAGAIN || errno == EINTR) && wait_for(host, POLLIN) == 0) continue;
      if (r <= 0) break;
      left -= (size_t)r;
    }
    pthread_join(wt, NULL);
    CHECK("the executor read the rest of the stream", left == 0);
    js_reply(host, 99, 0);
    CHECK("the stream's closing sync answered by the executor", reply(guest, 99) == 0);
    js_marker(js);
    vg_hot_allow(h, 1);
    vg_hot_handle_remove(h, FUNC_ID);
    SYM(cuMemFree_v2)(cell);
    SYM(cuModuleUnload)(mod);
  }

  /* ---- hostile frames: never served here ---- */
  n = call(b, 0, 11, OP_CTX_SYNC, 0, a);
  put32(b, 4); /* a payload too short for its ctx */
  write_all(guest, b, 20);
  CHECK("a short payload goes to the executor", taken(js, b, 20));
  js_marker(js);
  a[0] = STREAM_ID;
  n = call(b, 0, 12, OP_STREAM_QUERY, 1, a);
  put32(b, 17); /* a trailing byte too many */
  b[n] = 0;
  write_all(guest, b, n + 1);
  CHECK("a payload longer than its op's goes to the executor", taken(js, b, n + 1));
  js_marker(js);
  n = call(b, MORE, 13, OP_CTX_SYNC, 0, a);
  write_all(guest, b, n);
  CHECK("a MORE call goes to the executor", taken(js, b, n));
  js_marker(js);
  a[0] = 0x2001; /* a graph in the mirror, named as a function */
  a[1] = 0;
  n = call(b, NOREPLY, 14, OP_LAUNCH, 2, a); /* also far too short for a launch */
  write_all(guest, b, n);
  CHECK("a malformed launch goes to the executor", taken(js, b, n));
  js_marker(js);
  {
    static uint8_t lb[40000];
    uint8_t params[8] = {0};
    vg_hot_handle_add(h, FUNC_ID, 5, 0x1234);
    size_t k = launch_frame(lb, 16, FUNC_ID, 0, params, 8, 4096);
    write_all(guest, lb, k);
    CHECK("a parameter length past the payload goes to the executor", taken(js, lb, k));
    js_marker(js);
    static uint8_t big[32768];
    k = launch_frame(lb, 17, FUNC_ID, 0, big, 32768, 32768);
    write_all(guest, lb, k);
    CHECK("parameters beyond 32764 bytes go to the executor", taken(js, lb, k));
    js_marker(js);
    /* cuLaunchKernelEx claiming 33 attributes. */
    uint8_t eb[16 + 8 + 8 + 28 + 8 + 4];
    memset(eb, 0, sizeof eb);
    put32(eb, sizeof eb - 16); eb[4] = T_CALL; eb[6] = NOREPLY;
    put32(eb + 8, 18); put32(eb + 12, OP_LAUNCH_EX);
    put64(eb + 16, CTX_ID); put64(eb + 24, FUNC_ID);
    put32(eb + sizeof eb - 4, 33);
    write_all(guest, eb, sizeof eb);
    CHECK("33 launch attributes go to the executor", taken(js, eb, sizeof eb));
    js_marker(js);
    vg_hot_handle_remove(h, FUNC_ID);
  }

  /* ---- a mixed run: hot, cold, malformed and refused frames in random order; every answer
   * comes back once, in the order of the calls, whichever side served them ---- */
  {
    CUdeviceptr area;
    CHECK("area", SYM(cuMemAlloc_v2)(&area, 4096) == CUDA_SUCCESS);
    vg_hot_range_add(h, area, 4096);
    static const uint32_t ops[] = {OP_CTX_SYNC, 0x0303, OP_STREAM_QUERY, OP_EVENT_RECORD, 0x0403, 0x0405, OP_EVENT_QUERY, OP_MEMSET_D32, 0x0233, OP_LAUNCH, 0x0210};
    static uint8_t frames[4000 * 96 + 80 * 300000];
    size_t at = 0;
    uint32_t want_replies = 0, nframes = 4000;
    int big_left = 80;
    for (uint32_t i = 1; i <= nframes; i++) {
      uint8_t *f = frames + at;
      uint32_t op = i == nframes ? END_OP : ops[next_rand() % (sizeof ops / sizeof ops[0])];
      uint16_t flags = i == nframes ? 0 : (next_rand() % 3 == 0 ? NOREPLY : 0);
      if (next_rand() % 50 == 0) flags |= MORE;
      uint8_t *q = f + 16;
      put64(q, next_rand() % 20 == 0 ? next_rand() : CTX_ID);
      q += 8;
      int exact = op == OP_CTX_SYNC ? 0 : op == 0x0303 || op == OP_STREAM_QUERY ? 1 : op == OP_EVENT_QUERY || op == 0x0405 ? 1 : op == OP_EVENT_RECORD ? 2 : -1;
      if (op == 0x0210 && next_rand() % 4 == 0 && big_left > 0) {
        /* Now and then a large cold frame (a copy's payload), read partly by each side. */
        big_left--;
        size_t bl = 100000 + next_rand() % 200000;
        for (size_t k = 0; k < bl; k++) q[k] = (uint8_t)next_rand();
        q += bl;
      } else if (exact >= 0 && next_rand() % 2 == 0) {
        /* Half the time a well-formed hot call, the other half anything. */
        if (op == OP_EVENT_RECORD || op == OP_EVENT_QUERY || op == 0x0405) {
          put64(q, EVENT_ID);
          q += 8;
        }
        if (op == OP_EVENT_RECORD || op == 0x0303 || op == OP_STREAM_QUERY) {
          put64(q, STREAM_ID);
          q += 8;
        }
      } else {
        int nargs = (int)(next_rand() % 5);
        for (int k = 0; k < nargs; k++, q += 8) {
          uint64_t choice[] = {STREAM_ID, EVENT_ID, 0, 1, 2, area + next_rand() % 4096, next_rand() % 64, next_rand()};
          put64(q, choice[next_rand() % (sizeof choice / sizeof choice[0])]);
        }
        q -= next_rand() % 3 == 0 ? next_rand() % 5 : 0; /* sometimes a payload cut short */
      }
      uint32_t len = (uint32_t)(q - f - 16);
      put32(f, len);
      f[4] = T_CALL; f[5] = 0; f[6] = (uint8_t)flags; f[7] = 0;
      put32(f + 8, i);
      put32(f + 12, op);
      at += 16 + len;
      if (!(flags & NOREPLY)) want_replies++;
    }
    struct fake_js fj = {js, host, 0};
    pthread_t t;
    pthread_create(&t, NULL, fake_js_main, &fj);
    /* In batches of a few frames, one write each, as a guest that waits at its synchronizations
     * sends them; the answers of a batch are read before the next is sent. */
    uint32_t got_replies = 0, last = 0;
    bool ordered = true, lost = false;
    size_t o = 0;
    while (o < at && !lost) {
      uint32_t expect = 0;
      for (int k = 0; k < 8 && o < at; k++) {
        size_t fl = 16 + get32(frames + o);
        if (!(frames[o + 6] & NOREPLY)) expect++;
        write_all(guest, frames + o, fl);
        o += fl;
      }
      while (expect > 0) {
        uint8_t rb[16];
        uint8_t body[64];
        if (read_all(guest, rb, 16) != 0 || get32(rb) > sizeof body || read_all(guest, body, get32(rb)) != 0) {
          lost = true;
          break;
        }
        if (rb[4] != T_REPLY) continue;
        uint32_t id = get32(rb + 8);
        if (id <= last) ordered = false;
        last = id;
        got_replies++;
        expect--;
      }
    }
    pthread_join(t, NULL);
    char what[160];
    snprintf(what, sizeof what, "every answer once (%u of %u; %llu native, %llu switches, %llu hand-backs)", got_replies, want_replies,
             (unsigned long long)stat(h, VG_HOT_STAT_CALLS), (unsigned long long)stat(h, VG_HOT_STAT_SWITCHES),
             (unsigned long long)stat(h, VG_HOT_STAT_HANDBACKS));
    CHECK(what, got_replies == want_replies);
    CHECK("in the order of the calls", ordered);
    CHECK("both sides served many", stat(h, VG_HOT_STAT_CALLS) > 150 && fj.served > 500);
    vg_hot_range_remove(h, area, 4096);
    SYM(cuMemFree_v2)(area);
  }

  /* A header announcing a huge payload is handed over at once, without waiting for the payload. */
  n = call(b, 0, 15, OP_CTX_SYNC, 0, a);
  put32(b, 0xfffffff0u);
  write_all(guest, b, 16);
  CHECK("a huge length is handed over at once", taken(js, b, 16));

  /* The guest goes while the executor owns the connection: it sees the close itself. */
  close(guest);
  uint8_t rest[64];
  ssize_t k;
  while ((k = read(host, rest, sizeof rest)) > 0) {}
  CHECK("the owner of the connection sees the guest's close", k == 0);
  close(js);
  vg_hot_stop(h);
  close(host);

  /* The guest goes while the C side owns the connection: the executor's end of the socketpair
   * closes. */
  {
    int pv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pv);
    int js2 = -1;
    struct vg_hot *h2 = vg_hot_start(pv[1], argv[1], &js2);
    close(pv[1]);
    CHECK("a second one", h2 != NULL);
    if (h2) {
      vg_hot_allow(h2, 1);
      js_marker(js2);
      close(pv[0]);
      while ((k = read(js2, rest, sizeof rest)) > 0) {}
      CHECK("the guest's close while the C side owns the connection reaches the executor", k == 0);
      close(js2);
      vg_hot_stop(h2);
    }
  }

  SYM(cuEventDestroy_v2)(event);
  SYM(cuStreamDestroy_v2)(stream);
  SYM(cuCtxDestroy_v2)(ctx);
  printf("%s: %d failure(s)\n", argv[0], failures);
  return failures ? 1 : 0;
}
