/*
 * One session per process. Everything here runs under g_lock except the read-only accessors of
 * state published once (the first WELCOME, the initialised flag).
 */
#include "session.h"

#include "compress.h"
#include "conf.h"
#include "conn.h"
#include "wire_status.h"
#include "handles.h"
#include "log.h"
#include "rx.h"
#include "status.h"
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH_MAX (64u * 1024u)
/* Deadlines (docs/guest.md, "Waiting for the host"). Reaching the host: one that is there accepts
 * at once. */
#define DEFAULT_CONNECT_MS 3000
/* The whole handshake, up to the WELCOME: a live mediator answers from memory, but when a burst
 * of guests starts at once on a small host it shares the CPU with them and with the executors it
 * is starting, and seconds can pass. */
#define DEFAULT_HANDSHAKE_MS 30000
/* ATTACHED: the host starts executors a few at a time and a session waits in line for one, so a
 * burst of sessions on a small host waits tens of seconds (about a third of a second of CPU per
 * executor). Progress is logged while waiting. */
#define DEFAULT_ATTACH_MS 300000
#define ATTACH_PROGRESS_MS 10000
/* Upper bound of the configurable waits: a day. */
#define MAX_WAIT_MS 86400000
#define MAX_FORK_HOOKS 8
/* The mediator answers STATUS from memory; a reply this late means the host is stuck. */
#define STATUS_TIMEOUT_MS 5000
/* Far above any real STATUS_REPLY (64 devices x 1024 processes is ~800 KiB). */
#define STATUS_MAX_LEN (1u << 20)

enum { ST_NONE, ST_READY, ST_UNREACHABLE, ST_LOST };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static int g_state = ST_NONE;
static int g_fd = -1;
static int g_initialized;
static int g_attached; /* ATTACHED received on the current connection */
static uint16_t g_minor; /* protocol minor of the current connection's WELCOME */
static int g_lz4;        /* the current connection takes LZ4-compressed CALLs */
static int g_strict;
static uint32_t g_next_id;
static vg_welcome *g_welcome; /* published once with release semantics, never freed */
static uint8_t *g_batch;
/* What was read from g_fd beyond the frames taken so far (rx.h). */
static vg_rx g_rx = VG_RX_INIT;
static size_t g_batch_len;
static void (*g_fork_hooks[MAX_FORK_HOOKS])(void);
static int g_nfork_hooks;
static int g_lost_logged;
/* Why the last connect failed, for the doctor (vg_session_failure). */
static vg_fail_stage g_fail_stage;
static uint32_t g_fail_code;
static char g_fail_why[512];
/* VGPU_CALL_TIMEOUT_MS of the current connection: how long one wait for the host within a call
 * may last (0: as long as the call takes). */
static int g_call_timeout_ms;

static void fork_prepare(void) {
  pthread_mutex_lock(&g_lock);
  vg_handle_fork_prepare();
}

static void fork_parent(void) {
  vg_handle_fork_parent();
  pthread_mutex_unlock(&g_lock);
}

/* The child shares the parent's socket: it must never write to it. It drops its copy and any
 * queued frames and connects its own session on next use. */
static void fork_child(void) {
  vg_handle_fork_child();
  vg_tls_forget_all_after_fork();
  if (g_fd >= 0) close(g_fd);
  g_fd = -1;
  g_batch_len = 0;
  vg_rx_reset(&g_rx);
  if (g_state != ST_UNREACHABLE) g_state = ST_NONE;
  g_lost_logged = 0;
  pthread_mutex_unlock(&g_lock);
  for (int i = 0; i < g_nfork_hooks; i++) g_fork_hooks[i]();
}

static void register_atfork(void) { (void)pthread_atfork(fork_prepare, fork_parent, fork_child); }

void vg_session_on_fork_child(void (*fn)(void)) {
  pthread_mutex_lock(&g_lock);
  if (g_nfork_hooks < MAX_FORK_HOOKS) g_fork_hooks[g_nfork_hooks++] = fn;
  pthread_mutex_unlock(&g_lock);
}

/* A duration in ms from the environment variable `name`, within [lo, hi]; `dflt` when unset or
 * not a number in range (said once in the log). */
static int env_ms(const char *name, int dflt, long lo, long hi) {
  const char *s = getenv(name);
  if (!s || !*s) return dflt;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < lo || v > hi) {
    vg_log(VG_LOG_WARN, "ignoring %s='%s' (want %ld..%ld)", name, s, lo, hi);
    return dflt;
  }
  return (int)v;
}

static int connect_timeout_ms(void) { return env_ms("VGPU_CONNECT_TIMEOUT_MS", DEFAULT_CONNECT_MS, 1, 600000); }

static uint64_t deadline_after(int ms) { return ms ? vg_now_ns() + (uint64_t)ms * 1000000ull : 0; }

/* Compression is offered on remote links only: over a Unix socket copying is cheaper than
 * compressing (the host would not take it there anyway). */
static int offer_lz4(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX) return 0;
  return vg_lz4_offer();
}

static int send_hello(int fd, const char *token, uint64_t deadline, char *err, size_t errcap) {
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  const char *prog = program_invocation_short_name ? program_invocation_short_name : "";
  vg_hello h = {
      .magic = VG_HELLO_MAGIC, .major = VG_PROTO_MAJOR, .minor = VG_PROTO_MINOR,
      .flags = offer_lz4(fd) ? VG_HELLO_LZ4 : 0, .pid = (uint32_t)getpid(),
      .token = token, .token_len = strlen(token),
      .host = host, .host_len = strlen(host),
      .program = prog, .program_len = strnlen(prog, VG_MAX_STR)};
  vg_wr w;
  vg_wr_init(&w, VG_FRAME_HDR_LEN + VG_MAX_PAYLOAD);
  vg_wr_raw(&w, (uint8_t[VG_FRAME_HDR_LEN]){0}, VG_FRAME_HDR_LEN);
  if (vg_hello_encode(&w, &h)) {
    snprintf(err, errcap, "cannot encode HELLO: %s", vg_wire_strerror(w.err));
    vg_wr_free(&w);
    return -1;
  }
  vg_frame_hdr fh = {.len = (uint32_t)(w.len - VG_FRAME_HDR_LEN), .type = VG_FT_HELLO};
  vg_wire_put_hdr(w.p, &fh);
  int r = vg_conn_write(fd, w.p, w.len, deadline);
  vg_wr_free(&w);
  if (r) snprintf(err, errcap, "cannot send HELLO: %s", strerror(-r));
  return r ? -1 : 0;
}

/* Reads the handshake answer; on success *out holds a decoded WELCOME. */
static int read_welcome(int fd, uint64_t deadline, vg_welcome *out, char *err, size_t errcap, int *refused,
                        uint32_t *code) {
  uint8_t hb[VG_FRAME_HDR_LEN];
  vg_frame_hdr h;
  int r = vg_conn_read(fd, hb, sizeof hb, deadline);
  if (r) {
    snprintf(err, errcap, "no handshake answer: %s", r == -EPIPE ? "connection closed" : strerror(-r));
    return -1;
  }
  if ((r = vg_wire_get_hdr(hb, &h)) != 0) {
    snprintf(err, errcap, "malformed handshake answer: %s", vg_wire_strerror(r));
    return -1;
  }
  if (h.type != VG_FT_WELCOME && h.type != VG_FT_ERROR) {
    snprintf(err, errcap, "unexpected frame type %u in place of WELCOME", h.type);
    return -1;
  }
  uint8_t *p = malloc(h.len ? h.len : 1);
  if (!p) {
    snprintf(err, errcap, "out of memory reading the handshake");
    return -1;
  }
  if ((r = vg_conn_read(fd, p, h.len, deadline)) != 0) {
    snprintf(err, errcap, "handshake answer cut short: %s", r == -EPIPE ? "connection closed" : strerror(-r));
    free(p);
    return -1;
  }
  if (h.type == VG_FT_ERROR) {
    vg_errmsg e;
    *refused = 1;
    if (vg_error_decode(p, h.len, &e) == 0) {
      *code = e.code;
      snprintf(err, errcap, "host refused the session: %s: %.*s", vg_wire_status_name(e.code), (int)e.msg_len, e.msg);
    } else
      snprintf(err, errcap, "host refused the session (malformed ERROR frame)");
    free(p);
    return -1;
  }
  r = vg_welcome_decode(p, h.len, out);
  free(p);
  if (r) {
    snprintf(err, errcap, "malformed WELCOME: %s", vg_wire_strerror(r));
    return -1;
  }
  if (out->major != VG_PROTO_MAJOR) {
    snprintf(err, errcap, "host speaks protocol %u.%u, this library %u.%u", out->major, out->minor,
             VG_PROTO_MAJOR, VG_PROTO_MINOR);
    vg_welcome_free(out);
    return -1;
  }
  return 0;
}

static void do_connect(void) {
  char err[512] = "";
  const vg_conf *c = vg_conf_get();
  vg_addr a;
  vg_welcome wl;
  int fd = -1;
  /* The whole handshake, and within it reaching the host. */
  uint64_t answer = deadline_after(env_ms("VGPU_HANDSHAKE_TIMEOUT_MS", DEFAULT_HANDSHAKE_MS, 1, MAX_WAIT_MS));
  uint64_t deadline = deadline_after(connect_timeout_ms());
  if (deadline > answer) deadline = answer;
  int parsed = vg_addr_parse(c->server, &a, err, sizeof err) == 0;
  int refused = 0;
  uint32_t code = 0;
  a.tls.ca = c->tls_ca;
  a.tls.pin = c->tls_pin;
  a.tls.cert = c->tls_cert;
  a.tls.key = c->tls_key;
  g_fail_stage = !parsed ? VG_FAIL_CONFIG : VG_FAIL_CONNECT;
  if (parsed && (fd = vg_conn_open(&a, deadline, err, sizeof err)) >= 0) g_fail_stage = VG_FAIL_HANDSHAKE;
  if (fd >= 0 &&
      send_hello(fd, c->token, answer, err, sizeof err) == 0 &&
      read_welcome(fd, answer, &wl, err, sizeof err, &refused, &code) == 0) {
    g_fail_stage = VG_FAIL_NONE;
    g_fd = fd;
    vg_rx_reset(&g_rx);
    g_state = ST_READY;
    g_attached = 0;
    g_minor = wl.minor;
    g_lz4 = wl.minor >= VG_PROTO_MINOR_LZ4 && (wl.host_flags & VG_HOST_LZ4) && vg_lz4_offer();
    g_next_id = 0;
    g_call_timeout_ms = env_ms("VGPU_CALL_TIMEOUT_MS", 0, 0, MAX_WAIT_MS);
    const char *ss = getenv("VGPU_STRICT_SYNC");
    g_strict = ss && !strcmp(ss, "1");
    if (!__atomic_load_n(&g_welcome, __ATOMIC_ACQUIRE)) {
      vg_welcome *keep = malloc(sizeof *keep);
      if (keep) {
        *keep = wl;
        __atomic_store_n(&g_welcome, keep, __ATOMIC_RELEASE);
      } else {
        vg_welcome_free(&wl);
      }
    } else {
      /* A fork child's new session: the device table of the first one stays authoritative. */
      vg_welcome_free(&wl);
    }
    vg_log(VG_LOG_INFO, "connected to %s (session %llu)", c->server,
           g_welcome ? (unsigned long long)g_welcome->session : 0ull);
    if (g_welcome) return;
    snprintf(err, sizeof err, "out of memory keeping the device table");
  }
  vg_conn_close(fd);
  g_fd = -1;
  g_state = ST_UNREACHABLE;
  if (refused) g_fail_stage = VG_FAIL_REFUSED;
  g_fail_code = code;
  snprintf(g_fail_why, sizeof g_fail_why, "%s", err);
  vg_log(VG_LOG_WARN, "cannot use the vgpu host: %s; CUDA reports no device", err);
}

static vg_sess_status status_of(int st) {
  switch (st) {
  case ST_READY: return VG_SESS_OK;
  case ST_LOST: return VG_SESS_LOST;
  default: return VG_SESS_UNREACHABLE;
  }
}

vg_sess_status vg_session_connect(void) {
  pthread_once(&g_atfork_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  if (g_state == ST_NONE) do_connect();
  vg_sess_status s = status_of(g_state);
  pthread_mutex_unlock(&g_lock);
  return s;
}

vg_sess_status vg_session_init(void) {
  vg_sess_status s = vg_session_connect();
  if (s == VG_SESS_OK) __atomic_store_n(&g_initialized, 1, __ATOMIC_RELEASE);
  return s;
}

vg_fail_stage vg_session_failure(char *why, size_t cap, uint32_t *code) {
  pthread_mutex_lock(&g_lock);
  vg_fail_stage st = g_state == ST_UNREACHABLE ? g_fail_stage : VG_FAIL_NONE;
  snprintf(why, cap, "%s", st == VG_FAIL_NONE ? "" : g_fail_why);
  *code = g_fail_code;
  pthread_mutex_unlock(&g_lock);
  return st;
}

int vg_session_initialized(void) { return __atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE); }

const vg_welcome *vg_session_welcome(void) { return __atomic_load_n(&g_welcome, __ATOMIC_ACQUIRE); }

int vg_session_strict_sync(void) { return g_strict; }

/* ---- notices (docs/protocol.md, "Notices") ---- */

/* Kernel output is passed on in pieces of this size: it is written out as it arrives. */
#define NOTICE_CHUNK (64u * 1024u)

static void write_output(FILE *f, const uint8_t *p, size_t n) {
  if (fwrite(p, 1, n, f) != n) clearerr(f); /* a program that closed its stdout loses the output, as with CUDA */
}

/* Reads the payload of a NOTIFY whose header is in h and acts on it: kernel output goes to this
 * process's stdout or stderr (through stdio, so it keeps its place among the program's own
 * buffered output), a shutdown notice is logged. Returns 0, a negative errno when the read
 * fails, or a vg_wire_err for a malformed notice. */
static int take_notice(const vg_frame_hdr *h, uint64_t deadline) {
  static uint8_t buf[NOTICE_CHUNK]; /* under g_lock */
  FILE *out = h->op == VG_NOTICE_STDOUT ? stdout : h->op == VG_NOTICE_STDERR ? stderr : NULL;
  if (h->op == VG_NOTICE_SHUTDOWN) {
    vg_errmsg m;
    int r, e;
    if (h->len > sizeof buf) return VG_WIRE_ESTR;
    if ((r = vg_rx_read(&g_rx, g_fd, buf, h->len, deadline)) != 0) return r;
    if ((e = vg_error_decode(buf, h->len, &m)) != 0) return e;
    /* m.code carries the grace time (the payload has ERROR's layout). */
    vg_log(VG_LOG_WARN, "the host is shutting down; %u s to finish (%.*s)", (m.code + 999u) / 1000u,
           (int)(m.msg_len > 400 ? 400 : m.msg_len), m.msg);
    return 0;
  }
  for (size_t left = h->len; left;) {
    size_t k = left < sizeof buf ? left : sizeof buf;
    int r = vg_rx_read(&g_rx, g_fd, buf, k, deadline);
    if (r) return r;
    if (out) write_output(out, buf, k); /* an unknown notice is skipped */
    left -= k;
  }
  if (out) fflush(out);
  return 0;
}

/* Reads the next frame header, first taking any notices in front of it (a host that predates
 * them sends none, and a NOTIFY from it stays the caller's to reject). Returns 0, a negative
 * errno, or a vg_wire_err. */
static int next_hdr(vg_frame_hdr *h, uint64_t deadline) {
  for (;;) {
    int r = vg_rx_hdr(&g_rx, g_fd, h, deadline);
    if (r) return r;
    if (h->type != VG_FT_NOTIFY || g_minor < VG_PROTO_MINOR_NOTICE) return 0;
    if ((r = take_notice(h, deadline)) != 0) return r;
  }
}

/* Why reading an answer failed, for the session's loss. */
static void read_failure(char *why, size_t cap, const char *what, int r) {
  if (r < 0) snprintf(why, cap, "no answer to %s: %s", what, r == -EPIPE ? "connection closed by the host" : strerror(-r));
  else snprintf(why, cap, "malformed answer to %s: %s", what, vg_wire_strerror(r));
}

static int io_fail(const char *what, int r) {
  char why[160];
  if (r == -ETIMEDOUT)
    snprintf(why, sizeof why, "%s: no progress within %d ms (VGPU_CALL_TIMEOUT_MS)", what, g_call_timeout_ms);
  else
    snprintf(why, sizeof why, "%s: %s", what, r == -EPIPE ? "connection closed by the host" : strerror(-r));
  vg_session_fail(why);
  return -1;
}

int vg_session_notice(const vg_frame_hdr *h) {
  /* A notice is read within a call, under the same limit as the reply it comes before. */
  int r = take_notice(h, deadline_after(g_call_timeout_ms));
  if (!r) return 0;
  if (r < 0) return io_fail("receive failed", r);
  char why[160];
  snprintf(why, sizeof why, "malformed notice from the host: %s", vg_wire_strerror(r));
  vg_session_fail(why);
  return -1;
}

/* Waits up to `limit_ms` for the answer to ATTACH to start arriving, saying every
 * ATTACH_PROGRESS_MS that it still waits. 0, or a negative errno. */
static int wait_attached(int limit_ms) {
  for (int waited = 0;;) {
    int step = limit_ms - waited < ATTACH_PROGRESS_MS ? limit_ms - waited : ATTACH_PROGRESS_MS;
    int r = vg_conn_wait_readable(g_fd, deadline_after(step));
    if (r != -ETIMEDOUT) return r;
    waited += step;
    if (waited >= limit_ms) return r;
    vg_log(VG_LOG_INFO, "waiting for the host to start this session's executor: %d s so far (limit %d s, "
           "VGPU_ATTACH_TIMEOUT_MS)", waited / 1000, limit_ms / 1000);
  }
}

/* Asks for the session's executor before the first CALL (docs/protocol.md, "Handshake"): ATTACH,
 * then nothing until ATTACHED. A refusal or a failure leaves the session lost. */
static void do_attach(void) {
  char why[600];
  uint8_t hb[VG_FRAME_HDR_LEN], *p = NULL;
  vg_frame_hdr h = {.type = VG_FT_ATTACH};
  vg_errmsg st;
  int limit = env_ms("VGPU_ATTACH_TIMEOUT_MS", DEFAULT_ATTACH_MS, 1, MAX_WAIT_MS);
  uint64_t deadline = deadline_after(limit);
  int r, e;
  vg_wire_put_hdr(hb, &h);
  if ((r = vg_conn_write(g_fd, hb, sizeof hb, deadline)) != 0) {
    snprintf(why, sizeof why, "cannot send ATTACH: %s", strerror(-r));
  } else if ((r = wait_attached(limit)) != 0 || (r = next_hdr(&h, deadline)) != 0) {
    if (r == -ETIMEDOUT)
      snprintf(why, sizeof why, "no answer to ATTACH within %d ms (VGPU_ATTACH_TIMEOUT_MS)", limit);
    else
      read_failure(why, sizeof why, "ATTACH", r);
  } else if (h.type != VG_FT_ATTACHED && h.type != VG_FT_ERROR) {
    snprintf(why, sizeof why, "frame type %u in place of ATTACHED", h.type);
  } else if (!(p = malloc(h.len ? h.len : 1))) {
    snprintf(why, sizeof why, "out of memory reading ATTACHED");
  } else if ((r = vg_rx_read(&g_rx, g_fd, p, h.len, deadline)) != 0) {
    snprintf(why, sizeof why, "answer to ATTACH cut short: %s", r == -EPIPE ? "connection closed" : strerror(-r));
  } else if ((e = vg_error_decode(p, h.len, &st)) != 0) {
    snprintf(why, sizeof why, "malformed ATTACHED: %s", vg_wire_strerror(e));
  } else if (h.type == VG_FT_ERROR || st.code != 0) {
    snprintf(why, sizeof why, "host refused the GPU: %s: %.*s", vg_wire_status_name(st.code),
             (int)(st.msg_len > 400 ? 400 : st.msg_len), st.msg);
  } else {
    g_attached = 1;
    free(p);
    return;
  }
  free(p);
  vg_session_fail(why);
}

vg_sess_status vg_session_lock(void) {
  pthread_once(&g_atfork_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  if (g_state == ST_NONE) do_connect();
  if (g_state == ST_READY && !g_attached) do_attach();
  if (g_state == ST_READY) return VG_SESS_OK;
  vg_sess_status s = status_of(g_state);
  pthread_mutex_unlock(&g_lock);
  return s;
}

void vg_session_unlock(void) { pthread_mutex_unlock(&g_lock); }

uint32_t vg_session_next_id(void) {
  /* 0 means "no request"; skip it when the counter wraps. */
  if (++g_next_id == 0) g_next_id = 1;
  return g_next_id;
}

void vg_session_fail(const char *why) {
  if (g_state == ST_READY) {
    if (!g_lost_logged)
      vg_log(VG_LOG_ERROR, "connection to the vgpu host lost: %s; CUDA calls now fail with "
                           "CUDA_ERROR_DEVICE_UNAVAILABLE", why);
    g_lost_logged = 1;
  }
  vg_conn_close(g_fd);
  g_fd = -1;
  g_batch_len = 0;
  vg_rx_reset(&g_rx);
  g_state = ST_LOST;
}

/* Writes the batch, then frame[0, n), then tail[0, tn), in one writev (either may be NULL). */
static int send_parts(const uint8_t *frame, size_t n, const void *tail, size_t tn) {
  if (g_state != ST_READY) return -1;
  struct iovec iov[3] = {{.iov_base = g_batch, .iov_len = g_batch_len},
                         {.iov_base = (void *)frame, .iov_len = frame ? n : 0},
                         {.iov_base = (void *)tail, .iov_len = tail ? tn : 0}};
  int r = vg_conn_writev(g_fd, iov, 3, deadline_after(g_call_timeout_ms));
  g_batch_len = 0;
  return r ? io_fail("send failed", r) : 0;
}

int vg_session_send(const uint8_t *frame, size_t n) { return send_parts(frame, n, NULL, 0); }

int vg_session_send_call(const uint8_t *frame, size_t n, const void *tail, size_t tn) {
  if (g_state != ST_READY) return -1;
  if (g_lz4 && !tn) {
    size_t m;
    const uint8_t *f = vg_lz4_frame(frame, n, &m);
    return vg_session_send(f, m);
  }
  return send_parts(frame, n, tail, tn);
}

int vg_session_compresses(void) { return g_lz4; }

uint16_t vg_session_minor(void) { return g_minor; }

int vg_session_is_unix(void) {
  int domain = 0;
  socklen_t len = sizeof domain;
  return g_state == ST_READY && getsockopt(g_fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

int vg_session_send_fd(uint8_t byte, int fd) {
  if (g_state != ST_READY) return -1;
  if (g_batch_len && vg_session_send(NULL, 0)) return -1;
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  uint64_t deadline = deadline_after(g_call_timeout_ms);
  for (;;) {
    ssize_t n = sendmsg(g_fd, &m, MSG_NOSIGNAL);
    if (n == 1) return 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = vg_conn_poll(g_fd, POLLOUT, deadline);
      if (r) return io_fail("send failed", r);
      continue;
    }
    return io_fail("send failed", n < 0 ? -errno : -EPIPE);
  }
}

int vg_session_queue(const uint8_t *frame, size_t n) {
  if (g_state != ST_READY) return -1;
  if (n >= BATCH_MAX || g_batch_len + n > BATCH_MAX) {
    if (n >= BATCH_MAX) return vg_session_send_call(frame, n, NULL, 0);
    if (vg_session_send(NULL, 0)) return -1;
  }
  if (!g_batch && !(g_batch = malloc(BATCH_MAX))) return vg_session_send(frame, n);
  memcpy(g_batch + g_batch_len, frame, n);
  g_batch_len += n;
  if (g_batch_len == BATCH_MAX) return vg_session_send(NULL, 0);
  return 0;
}

int vg_session_read(void *p, size_t n) {
  if (g_state != ST_READY) return -1;
  int r = vg_rx_read(&g_rx, g_fd, p, n, deadline_after(g_call_timeout_ms));
  return r ? io_fail("receive failed", r) : 0;
}

int vg_session_read_hdr(vg_frame_hdr *h) {
  if (g_state != ST_READY) return -1;
  int e = vg_rx_hdr(&g_rx, g_fd, h, deadline_after(g_call_timeout_ms));
  if (e < 0) return io_fail("receive failed", e);
  if (e) {
    char why[128];
    snprintf(why, sizeof why, "malformed frame from the host: %s", vg_wire_strerror(e));
    vg_session_fail(why);
    return -1;
  }
  return 0;
}

void vg_session_host_error(const vg_frame_hdr *h) {
  char why[600];
  uint8_t *p = malloc(h->len ? h->len : 1);
  vg_errmsg e;
  if (p && vg_session_read(p, h->len) == 0 && vg_error_decode(p, h->len, &e) == 0)
    snprintf(why, sizeof why, "host ended the session: %s: %.*s", vg_wire_status_name(e.code),
             (int)(e.msg_len > 400 ? 400 : e.msg_len), e.msg);
  else
    snprintf(why, sizeof why, "host ended the session (unreadable ERROR frame)");
  free(p);
  vg_session_fail(why);
}

/* STATUS / STATUS_REPLY (docs/protocol.md, "Status before ATTACH"): one request, answered by the
 * mediator from its accounting while the connection is still in discovery. */
static int status_exchange(vg_status *out) {
  char why[160];
  uint8_t hb[VG_FRAME_HDR_LEN], *p = NULL;
  uint32_t id = vg_session_next_id();
  vg_frame_hdr h = {.type = VG_FT_STATUS, .id = id};
  uint64_t deadline = vg_now_ns() + (uint64_t)STATUS_TIMEOUT_MS * 1000000ull;
  int r, e;
  vg_wire_put_hdr(hb, &h);
  if ((r = vg_conn_write(g_fd, hb, sizeof hb, deadline)) != 0) {
    snprintf(why, sizeof why, "cannot send STATUS: %s", strerror(-r));
  } else if ((r = next_hdr(&h, deadline)) != 0) {
    read_failure(why, sizeof why, "STATUS", r);
  } else if (h.type == VG_FT_ERROR) {
    vg_session_host_error(&h);
    return -1;
  } else if (h.type != VG_FT_STATUS_REPLY || h.id != id) {
    snprintf(why, sizeof why, "frame type %u id %u in place of STATUS_REPLY %u", h.type, h.id, id);
  } else if (h.len > STATUS_MAX_LEN) {
    snprintf(why, sizeof why, "STATUS_REPLY of %u bytes", h.len);
  } else if (!(p = malloc(h.len ? h.len : 1))) {
    snprintf(why, sizeof why, "out of memory reading STATUS_REPLY");
  } else if ((r = vg_rx_read(&g_rx, g_fd, p, h.len, deadline)) != 0) {
    snprintf(why, sizeof why, "STATUS_REPLY cut short: %s", r == -EPIPE ? "connection closed" : strerror(-r));
  } else if ((e = vg_status_decode(p, h.len, out)) != 0) {
    snprintf(why, sizeof why, "malformed STATUS_REPLY: %s", vg_wire_strerror(e));
  } else {
    free(p);
    return 0;
  }
  free(p);
  vg_session_fail(why);
  return -1;
}

int vg_session_status(vg_status *out) {
  pthread_once(&g_atfork_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  if (g_state == ST_NONE) do_connect();
  int rc;
  if (g_state != ST_READY) rc = -1;
  else if (g_attached || g_minor < VG_PROTO_MINOR_STATUS) rc = 1;
  else rc = status_exchange(out);
  pthread_mutex_unlock(&g_lock);
  return rc;
}
