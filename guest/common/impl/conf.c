/*
 * Reads the guest configuration once per process. Kept free of logging because logging itself is
 * configured from here; problems are recorded in vg_conf.problem and logged by the caller.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VG_CONF_DEFAULT_PATH "/etc/vgpu/guest.conf"
#define VG_CONF_FILE_MAX (64 * 1024)

static pthread_mutex_t g_conf_lock = PTHREAD_MUTEX_INITIALIZER;
static vg_conf g_conf;
static int g_conf_loaded;

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

static void note(vg_conf *c, int lineno, const char *why) {
  if (!c->problem[0]) snprintf(c->problem, sizeof c->problem, "line %d: %s", lineno, why);
}

static int set_value(vg_conf *c, const char *key, size_t klen, const char *val, size_t vlen) {
  char *dst;
  size_t cap;
  if (klen == 6 && !memcmp(key, "server", 6)) dst = c->server, cap = sizeof c->server;
  else if (klen == 5 && !memcmp(key, "token", 5)) dst = c->token, cap = sizeof c->token;
  else if (klen == 3 && !memcmp(key, "log", 3)) dst = c->log, cap = sizeof c->log;
  else if (klen == 8 && !memcmp(key, "log_file", 8)) dst = c->log_file, cap = sizeof c->log_file;
  else if (klen == 6 && !memcmp(key, "tls_ca", 6)) dst = c->tls_ca, cap = sizeof c->tls_ca;
  else if (klen == 7 && !memcmp(key, "tls_pin", 7)) dst = c->tls_pin, cap = sizeof c->tls_pin;
  else if (klen == 8 && !memcmp(key, "tls_cert", 8)) dst = c->tls_cert, cap = sizeof c->tls_cert;
  else if (klen == 7 && !memcmp(key, "tls_key", 7)) dst = c->tls_key, cap = sizeof c->tls_key;
  else if (klen == 8 && !memcmp(key, "shm_size", 8)) dst = c->shm_size, cap = sizeof c->shm_size;
  else if (klen == 10 && !memcmp(key, "shm_device", 10)) dst = c->shm_device, cap = sizeof c->shm_device;
  else return -1;
  if (vlen >= cap) return -2;
  memcpy(dst, val, vlen);
  dst[vlen] = 0;
  return 0;
}

int vg_conf_parse(const char *text, size_t len, vg_conf *c) {
  int bad = 0, lineno = 0;
  size_t i = 0;
  while (i < len) {
    size_t start = i, end;
    while (i < len && text[i] != '\n') i++;
    end = i;
    if (i < len) i++;
    lineno++;
    /* A '#' anywhere starts a comment: tokens and paths never contain one in practice. */
    for (size_t k = start; k < end; k++)
      if (text[k] == '#') {
        end = k;
        break;
      }
    while (start < end && is_space(text[start])) start++;
    while (end > start && is_space(text[end - 1])) end--;
    if (start == end) continue;
    const char *eq = memchr(text + start, '=', end - start);
    if (!eq) {
      note(c, lineno, "expected 'key = value'");
      bad++;
      continue;
    }
    size_t ks = start, ke = (size_t)(eq - text), vs = ke + 1, ve = end;
    while (ke > ks && is_space(text[ke - 1])) ke--;
    while (vs < ve && is_space(text[vs])) vs++;
    if (memchr(text + start, '\0', end - start)) {
      note(c, lineno, "NUL byte in line");
      bad++;
      continue;
    }
    int r = set_value(c, text + ks, ke - ks, text + vs, ve - vs);
    if (r == -1) {
      note(c, lineno, "unknown key (known: server, token, log, log_file, tls_ca, tls_pin, tls_cert, tls_key, shm_size, shm_device)");
      bad++;
    } else if (r == -2) {
      note(c, lineno, "value too long");
      bad++;
    }
  }
  return bad;
}

static void read_file(const char *path, vg_conf *c) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    /* A missing default file is normal (configuration by environment); a missing explicit one
     * is worth a warning. */
    if (errno != ENOENT || getenv("VGPU_CONFIG"))
      snprintf(c->problem, sizeof c->problem, "cannot open %s: %s", path, strerror(errno));
    return;
  }
  char *buf = malloc(VG_CONF_FILE_MAX);
  size_t n = 0;
  if (buf) {
    while (n < VG_CONF_FILE_MAX) {
      ssize_t r = read(fd, buf + n, VG_CONF_FILE_MAX - n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      n += (size_t)r;
    }
    int bad = vg_conf_parse(buf, n, c);
    if (bad && c->problem[0]) {
      char tmp[sizeof c->problem];
      if (snprintf(tmp, sizeof tmp, "%s %s", path, c->problem) >= 0) memcpy(c->problem, tmp, sizeof tmp);
    }
    free(buf);
  }
  close(fd);
}

static void env_override(char *dst, size_t cap, const char *name) {
  const char *v = getenv(name);
  if (v && strlen(v) < cap) strcpy(dst, v);
}

const vg_conf *vg_conf_get(void) {
  pthread_mutex_lock(&g_conf_lock);
  if (!g_conf_loaded) {
    memset(&g_conf, 0, sizeof g_conf);
    const char *path = getenv("VGPU_CONFIG");
    read_file(path && *path ? path : VG_CONF_DEFAULT_PATH, &g_conf);
    env_override(g_conf.server, sizeof g_conf.server, "VGPU_SERVER");
    env_override(g_conf.token, sizeof g_conf.token, "VGPU_TOKEN");
    /* VGPU_LOG_LEVEL is the host's older name for the same setting (docs/guest.md): accepted so
     * one variable set for both sides works; VGPU_LOG wins when both are set. */
    env_override(g_conf.log, sizeof g_conf.log, "VGPU_LOG_LEVEL");
    env_override(g_conf.log, sizeof g_conf.log, "VGPU_LOG");
    env_override(g_conf.log_file, sizeof g_conf.log_file, "VGPU_LOG_FILE");
    env_override(g_conf.tls_ca, sizeof g_conf.tls_ca, "VGPU_TLS_CA");
    env_override(g_conf.tls_pin, sizeof g_conf.tls_pin, "VGPU_TLS_PIN");
    env_override(g_conf.tls_cert, sizeof g_conf.tls_cert, "VGPU_TLS_CERT");
    env_override(g_conf.tls_key, sizeof g_conf.tls_key, "VGPU_TLS_KEY");
    env_override(g_conf.shm_size, sizeof g_conf.shm_size, "VGPU_SHM_SIZE");
    env_override(g_conf.shm_device, sizeof g_conf.shm_device, "VGPU_SHM_DEVICE");
    g_conf_loaded = 1;
  }
  pthread_mutex_unlock(&g_conf_lock);
  /* Never modified again until vg_conf_reset, which only tests and the fork child use. */
  return &g_conf;
}

void vg_conf_reset(void) {
  pthread_mutex_lock(&g_conf_lock);
  g_conf_loaded = 0;
  pthread_mutex_unlock(&g_conf_lock);
}
