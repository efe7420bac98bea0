/*
 * TLS client over OpenSSL 3, loaded with dlopen (tls.h says why). Only the few entry points used
 * here are declared, as pointers resolved with dlsym: the guest builds without OpenSSL's headers
 * and links without libssl (-Wl,-z,defs holds). The constants are OpenSSL 3's ABI values.
 */
#include "tls.h"

#include "conn.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LIBSSL_SONAME "libssl.so.3"

/* OpenSSL 3 ABI values (ssl.h, prov_ssl.h, tls1.h, crypto.h). */
#define O_SSL_ERROR_SSL 1
#define O_SSL_ERROR_WANT_READ 2
#define O_SSL_ERROR_WANT_WRITE 3
#define O_SSL_ERROR_SYSCALL 5
#define O_SSL_ERROR_ZERO_RETURN 6
#define O_SSL_VERIFY_NONE 0
#define O_SSL_VERIFY_PEER 1
#define O_SSL_CTRL_MODE 33
#define O_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER 2L
#define O_SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define O_TLSEXT_NAMETYPE_host_name 0L
#define O_SSL_CTRL_SET_MIN_PROTO_VERSION 123
#define O_TLS1_2_VERSION 0x0303L
#define O_OPENSSL_INIT_NO_ATEXIT 0x00080000ULL
#define O_X509_V_OK 0L
#define O_SSL_FILETYPE_PEM 1

typedef struct ssl_ctx SSL_CTX;
typedef struct ssl SSL;
typedef struct ssl_method SSL_METHOD;
typedef struct x509 X509;
typedef struct evp_md EVP_MD;

static struct {
  int (*OPENSSL_init_ssl)(uint64_t, const void *);
  const SSL_METHOD *(*TLS_client_method)(void);
  SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
  void (*SSL_CTX_free)(SSL_CTX *);
  long (*SSL_CTX_ctrl)(SSL_CTX *, int, long, void *);
  void (*SSL_CTX_set_verify)(SSL_CTX *, int, void *);
  int (*SSL_CTX_load_verify_locations)(SSL_CTX *, const char *, const char *);
  int (*SSL_CTX_use_certificate_chain_file)(SSL_CTX *, const char *);
  int (*SSL_CTX_use_PrivateKey_file)(SSL_CTX *, const char *, int);
  int (*SSL_CTX_check_private_key)(const SSL_CTX *);
  void (*SSL_CTX_set_default_passwd_cb)(SSL_CTX *, int (*)(char *, int, int, void *));
  SSL *(*SSL_new)(SSL_CTX *);
  void (*SSL_free)(SSL *);
  long (*SSL_ctrl)(SSL *, int, long, void *);
  int (*SSL_set_fd)(SSL *, int);
  int (*SSL_set1_host)(SSL *, const char *);
  int (*SSL_connect)(SSL *);
  int (*SSL_read)(SSL *, void *, int);
  int (*SSL_peek)(SSL *, void *, int);
  int (*SSL_write)(SSL *, const void *, int);
  int (*SSL_pending)(const SSL *);
  int (*SSL_get_error)(const SSL *, int);
  long (*SSL_get_verify_result)(const SSL *);
  X509 *(*SSL_get1_peer_certificate)(const SSL *);
  const char *(*X509_verify_cert_error_string)(long);
  int (*X509_digest)(const X509 *, const EVP_MD *, unsigned char *, unsigned int *);
  void (*X509_free)(X509 *);
  const EVP_MD *(*EVP_sha256)(void);
  unsigned long (*ERR_get_error)(void);
  void (*ERR_error_string_n)(unsigned long, char *, size_t);
  void (*ERR_clear_error)(void);
} S;

static pthread_once_t g_load_once = PTHREAD_ONCE_INIT;
static char g_load_err[256];

/* Loaded once per process and never unloaded: a connection may outlive anything that would. */
static void load(void) {
  void *h = dlopen(LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(g_load_err, sizeof g_load_err, "tls: needs OpenSSL 3 (%s): %s; install it (Debian/Ubuntu: libssl3)",
             LIBSSL_SONAME, dlerror());
    return;
  }
  /* dlsym on the libssl handle also finds libcrypto's symbols: it is loaded as its dependency. */
#define SYM(name)                                                                                   \
  do {                                                                                              \
    *(void **)&S.name = dlsym(h, #name);                                                            \
    if (!S.name) {                                                                                  \
      snprintf(g_load_err, sizeof g_load_err, "tls: %s lacks %s (OpenSSL 3 is needed)", LIBSSL_SONAME, #name); \
      return;                                                                                       \
    }                                                                                               \
  } while (0)
  SYM(OPENSSL_init_ssl); SYM(TLS_client_method); SYM(SSL_CTX_new); SYM(SSL_CTX_free); SYM(SSL_CTX_ctrl);
  SYM(SSL_CTX_set_verify); SYM(SSL_CTX_load_verify_locations); SYM(SSL_new); SYM(SSL_free); SYM(SSL_ctrl);
  SYM(SSL_set_fd); SYM(SSL_set1_host); SYM(SSL_connect); SYM(SSL_read); SYM(SSL_peek); SYM(SSL_write);
  SYM(SSL_pending); SYM(SSL_get_error); SYM(SSL_get_verify_result); SYM(SSL_get1_peer_certificate);
  SYM(X509_verify_cert_error_string); SYM(X509_digest); SYM(X509_free); SYM(EVP_sha256);
  SYM(ERR_get_error); SYM(ERR_error_string_n); SYM(ERR_clear_error);
  SYM(SSL_CTX_use_certificate_chain_file); SYM(SSL_CTX_use_PrivateKey_file); SYM(SSL_CTX_check_private_key);
  SYM(SSL_CTX_set_default_passwd_cb);
#undef SYM
  /* No atexit cleanup: the application's other threads may still be in a CUDA call at exit. */
  if (S.OPENSSL_init_ssl(O_OPENSSL_INIT_NO_ATEXIT, NULL) != 1) {
    snprintf(g_load_err, sizeof g_load_err, "tls: OpenSSL failed to initialize");
    return;
  }
}

/* ---- fd -> SSL table ------------------------------------------------------------------------- */

/* A process has one session connection at a time (plus, briefly, one being made). */
#define MAX_TLS 8
static pthread_mutex_t g_tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int fd;
  SSL *ssl;
} g_tab[MAX_TLS];
static int g_tab_n;

static SSL *ssl_of(int fd) {
  SSL *s = NULL;
  pthread_mutex_lock(&g_tab_lock);
  for (int i = 0; i < g_tab_n; i++)
    if (g_tab[i].fd == fd) s = g_tab[i].ssl;
  pthread_mutex_unlock(&g_tab_lock);
  return s;
}

int vg_tls_active(int fd) { return fd >= 0 && ssl_of(fd) != NULL; }

void vg_tls_forget(int fd) {
  SSL *s = NULL;
  pthread_mutex_lock(&g_tab_lock);
  for (int i = 0; i < g_tab_n; i++)
    if (g_tab[i].fd == fd) {
      s = g_tab[i].ssl;
      g_tab[i] = g_tab[--g_tab_n];
      break;
    }
  pthread_mutex_unlock(&g_tab_lock);
  if (s) S.SSL_free(s);
}

void vg_tls_forget_all_after_fork(void) {
  g_tab_n = 0;
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  g_tab_lock = fresh;
}

/* ---- verification ---------------------------------------------------------------------------- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int vg_tls_parse_pin(const char *spec, uint8_t out[32]) {
  if (!spec || strncmp(spec, "sha256:", 7) != 0) return -1;
  const char *p = spec + 7;
  int n = 0;
  while (*p) {
    if (*p == ':') {
      p++;
      continue;
    }
    int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
    if (hi < 0 || lo < 0 || n == 32) return -1;
    out[n++] = (uint8_t)(hi << 4 | lo);
    p += 2;
  }
  return n == 32 ? 0 : -1;
}

/* The newest OpenSSL error as text, or `dflt`. */
static void ssl_reason(char *buf, size_t cap, const char *dflt) {
  unsigned long e = S.ERR_get_error();
  if (e) S.ERR_error_string_n(e, buf, cap);
  else snprintf(buf, cap, "%s", dflt);
}

/* Waits as SSL_get_error says; 0, 1 (not a wait: `r` is the operation's real failure) or -errno. */
static int ssl_wait(SSL *s, int r, int fd, uint64_t deadline_ns) {
  int e = S.SSL_get_error(s, r);
  if (e == O_SSL_ERROR_WANT_READ) return vg_conn_poll(fd, POLLIN, deadline_ns);
  if (e == O_SSL_ERROR_WANT_WRITE) return vg_conn_poll(fd, POLLOUT, deadline_ns);
  return 1;
}

/* A failed read or write as a negative errno: EOF and resets as -EPIPE (the session's "host went
 * away"), anything TLS itself refused as -EPROTO. */
static int io_errno(SSL *s, int r) {
  int e = S.SSL_get_error(s, r);
  S.ERR_clear_error();
  if (e == O_SSL_ERROR_ZERO_RETURN) return -EPIPE;
  if (e == O_SSL_ERROR_SYSCALL) return errno && errno != EAGAIN ? -errno : -EPIPE;
  return -EPROTO;
}

static int given(const char *s) { return s && *s; }

/* Opens and closes the file: a missing or unreadable one is named before anything connects. */
static int readable(const char *what, const char *var, const char *key, const char *file, char *err, size_t errcap) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errcap, "tls: cannot read the client %s %s (%s, or %s in guest.conf): %s", what, file, var, key,
             strerror(errno));
    return -1;
  }
  close(fd);
  return 0;
}

int vg_tls_check_config(const vg_tls_conf *c, char *err, size_t errcap) {
  uint8_t want[32];
  const char *ca_file = c->ca, *pin = c->pin;
  if (given(c->cert) != given(c->key)) {
    snprintf(err, errcap, "tls: a client certificate needs its key and a key its certificate: set both VGPU_TLS_CERT "
                          "and VGPU_TLS_KEY (or tls_cert and tls_key in guest.conf), or neither");
    return -1;
  }
  if (given(c->cert) && (readable("certificate", "VGPU_TLS_CERT", "tls_cert", c->cert, err, errcap) ||
                         readable("key", "VGPU_TLS_KEY", "tls_key", c->key, err, errcap)))
    return -1;
  if (!(ca_file && *ca_file) && !(pin && *pin)) {
    snprintf(err, errcap, "tls: no way to verify the server: set VGPU_TLS_CA (a CA file) or VGPU_TLS_PIN "
                          "(sha256:HEX of its certificate), or tls_ca / tls_pin in guest.conf; the token is not sent");
    return -1;
  }
  if (pin && *pin && vg_tls_parse_pin(pin, want)) {
    snprintf(err, errcap, "tls: bad pin '%s' (expected sha256: and 64 hex digits)", pin);
    return -1;
  }
  pthread_once(&g_load_once, load);
  if (g_load_err[0]) {
    snprintf(err, errcap, "%s", g_load_err);
    return -1;
  }
  return 0;
}

/* An encrypted key is refused rather than OpenSSL asking for its passphrase on the terminal of
 * whatever program loaded the CUDA library. */
static int no_passphrase(char *buf, int size, int rwflag, void *user) {
  (void)buf, (void)size, (void)rwflag, (void)user;
  return 0;
}

/* Puts the client certificate and key into ctx; 0, or -1 with the reason (naming the file). */
static int use_client_cert(SSL_CTX *ctx, const vg_tls_conf *c, char *err, size_t errcap) {
  char why[256];
  S.SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (S.SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
    ssl_reason(why, sizeof why, "unreadable");
    snprintf(err, errcap, "tls: cannot load the client certificate %s (VGPU_TLS_CERT): %s", c->cert, why);
    return -1;
  }
  if (S.SSL_CTX_use_PrivateKey_file(ctx, c->key, O_SSL_FILETYPE_PEM) != 1) {
    ssl_reason(why, sizeof why, "unreadable");
    snprintf(err, errcap, "tls: cannot load the client key %s (VGPU_TLS_KEY; PEM, not encrypted): %s", c->key, why);
    return -1;
  }
  if (S.SSL_CTX_check_private_key(ctx) != 1) {
    ssl_reason(why, sizeof why, "they do not match");
    snprintf(err, errcap, "tls: the client key %s is not the key of the certificate %s: %s", c->key, c->cert, why);
    return -1;
  }
  return 0;
}

int vg_tls_start(int fd, const char *host, const vg_tls_conf *c, uint64_t deadline_ns, char *err, size_t errcap) {
  const char *ca_file = c->ca, *pin = c->pin;
  int has_ca = given(ca_file), has_pin = given(pin);
  uint8_t want[32];
  if (vg_tls_check_config(c, err, errcap)) return -1;
  if (has_pin) (void)vg_tls_parse_pin(pin, want);
  char why[256];
  S.ERR_clear_error();
  SSL_CTX *ctx = S.TLS_client_method ? S.SSL_CTX_new(S.TLS_client_method()) : NULL;
  if (!ctx) {
    ssl_reason(why, sizeof why, "out of memory");
    snprintf(err, errcap, "tls: %s", why);
    return -1;
  }
  SSL *s = NULL;
  int rc = -1;
  S.SSL_CTX_ctrl(ctx, O_SSL_CTRL_SET_MIN_PROTO_VERSION, O_TLS1_2_VERSION, NULL);
  /* With a CA file the chain and the name are checked during the handshake; a pin alone is
   * checked right after it, before a byte of the session is written. */
  S.SSL_CTX_set_verify(ctx, has_ca ? O_SSL_VERIFY_PEER : O_SSL_VERIFY_NONE, NULL);
  if (has_ca && S.SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
    ssl_reason(why, sizeof why, "unreadable");
    snprintf(err, errcap, "tls: cannot load the CA file %s: %s", ca_file, why);
    goto out;
  }
  if (given(c->cert) && use_client_cert(ctx, c, err, errcap)) goto out;
  if (!(s = S.SSL_new(ctx)) || S.SSL_set_fd(s, fd) != 1) {
    ssl_reason(why, sizeof why, "out of memory");
    snprintf(err, errcap, "tls: %s", why);
    goto out;
  }
  S.SSL_ctrl(s, O_SSL_CTRL_MODE, O_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
  unsigned char ip[16];
  int literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  /* SNI names hosts, never addresses (RFC 6066). */
  if (!literal) S.SSL_ctrl(s, O_SSL_CTRL_SET_TLSEXT_HOSTNAME, O_TLSEXT_NAMETYPE_host_name, (void *)host);
  /* OpenSSL 3 matches an address literal against the certificate's IP entries, a name against its
   * DNS entries. */
  if (has_ca && S.SSL_set1_host(s, host) != 1) {
    snprintf(err, errcap, "tls: cannot check the server name '%s'", host);
    goto out;
  }
  for (;;) {
    int r = S.SSL_connect(s);
    if (r == 1) break;
    int w = ssl_wait(s, r, fd, deadline_ns);
    if (w == 0) continue;
    long vr = S.SSL_get_verify_result(s);
    if (has_ca && vr != O_X509_V_OK)
      snprintf(err, errcap, "tls: the server's certificate does not verify against %s: %s", ca_file,
               S.X509_verify_cert_error_string(vr));
    else if (w < 0)
      snprintf(err, errcap, "tls: handshake: %s", strerror(-w));
    else {
      ssl_reason(why, sizeof why, errno ? strerror(errno) : "the server closed the connection");
      snprintf(err, errcap, "tls: handshake failed: %s", why);
    }
    goto out;
  }
  if (has_pin) {
    X509 *cert = S.SSL_get1_peer_certificate(s);
    unsigned char got[64];
    unsigned int glen = 0;
    int ok = cert && S.X509_digest(cert, S.EVP_sha256(), got, &glen) == 1 && glen == 32;
    if (cert) S.X509_free(cert);
    if (!ok) {
      snprintf(err, errcap, "tls: cannot read the server's certificate to check the pin");
      goto out;
    }
    if (memcmp(got, want, 32) != 0) {
      char hex[65];
      for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", got[i]);
      snprintf(err, errcap, "tls: the server's certificate (sha256:%s) does not match the pinned fingerprint %s",
               hex, pin);
      goto out;
    }
  }
  pthread_mutex_lock(&g_tab_lock);
  if (g_tab_n < MAX_TLS) {
    g_tab[g_tab_n].fd = fd;
    g_tab[g_tab_n++].ssl = s;
    s = NULL;
    rc = 0;
  }
  pthread_mutex_unlock(&g_tab_lock);
  if (rc) snprintf(err, errcap, "tls: too many connections");
out:
  S.ERR_clear_error();
  if (s) S.SSL_free(s);
  S.SSL_CTX_free(ctx); /* the SSL object holds its own reference */
  return rc;
}

/* ---- I/O ------------------------------------------------------------------------------------- */

/* At most one record's worth per SSL_write keeps each step's retry simple. */
#define CHUNK (1 << 20)

long vg_tls_read_some(int fd, void *p, size_t min, size_t cap, uint64_t deadline_ns) {
  SSL *s = ssl_of(fd);
  if (!s) return -EBADF;
  size_t got = 0;
  while (got < min) {
    size_t want = cap - got > CHUNK ? CHUNK : cap - got;
    errno = 0;
    int r = S.SSL_read(s, (char *)p + got, (int)want);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    int w = ssl_wait(s, r, fd, deadline_ns);
    if (w < 0) return w;
    if (w > 0) return io_errno(s, r);
  }
  return (long)got;
}

static int write_all(SSL *s, int fd, const char *p, size_t n, uint64_t deadline_ns) {
  while (n > 0) {
    size_t step = n > CHUNK ? CHUNK : n;
    errno = 0;
    int r = S.SSL_write(s, p, (int)step);
    if (r > 0) {
      p += r;
      n -= (size_t)r;
      continue;
    }
    int w = ssl_wait(s, r, fd, deadline_ns);
    if (w < 0) return w;
    if (w > 0) return io_errno(s, r);
  }
  return 0;
}

/* Small pieces (a frame header and its payload) go out as one record: TLS has no writev, and a
 * record per piece would double the cost of every small call. */
#define COALESCE (16 * 1024)

int vg_tls_writev(int fd, struct iovec *iov, int iovcnt, uint64_t deadline_ns) {
  SSL *s = ssl_of(fd);
  if (!s) return -EBADF;
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  if (total <= COALESCE) {
    char buf[COALESCE];
    size_t at = 0;
    for (int i = 0; i < iovcnt; i++) {
      if (iov[i].iov_len) memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
      at += iov[i].iov_len;
    }
    return write_all(s, fd, buf, at, deadline_ns);
  }
  for (int i = 0; i < iovcnt; i++) {
    int r = write_all(s, fd, iov[i].iov_base, iov[i].iov_len, deadline_ns);
    if (r) return r;
  }
  return 0;
}

int vg_tls_wait_readable(int fd, uint64_t deadline_ns) {
  SSL *s = ssl_of(fd);
  if (!s) return -EBADF;
  /* A readable socket may hold only TLS's own records (a TLS 1.3 session ticket): wait until
   * application bytes (or the end) can be read, without consuming them. */
  for (;;) {
    if (S.SSL_pending(s) > 0) return 0;
    char c;
    errno = 0;
    int r = S.SSL_peek(s, &c, 1);
    if (r > 0) return 0;
    int w = ssl_wait(s, r, fd, deadline_ns);
    if (w < 0) return w;
    if (w > 0) {
      S.ERR_clear_error();
      return 0; /* the end, or an error: the read that follows reports it */
    }
  }
}
