/*
 * Guest configuration: /etc/vgpu/guest.conf (or $VGPU_CONFIG), `key = value` lines with keys
 * server, token, log, log_file, tls_ca, tls_pin, tls_cert, tls_key, shm_size, shm_device; '#'
 * starts a comment. Environment variables win over the file: VGPU_SERVER, VGPU_TOKEN, VGPU_LOG,
 * VGPU_LOG_FILE, VGPU_TLS_CA, VGPU_TLS_PIN, VGPU_TLS_CERT, VGPU_TLS_KEY, VGPU_SHM_SIZE,
 * VGPU_SHM_DEVICE.
 */
#ifndef VG_CONF_H
#define VG_CONF_H

#include <stddef.h>

#define VG_CONF_VALUE_MAX 1024

typedef struct vg_conf {
  char server[VG_CONF_VALUE_MAX];
  char token[VG_CONF_VALUE_MAX];
  char log[32];
  char log_file[VG_CONF_VALUE_MAX];
  char tls_ca[VG_CONF_VALUE_MAX];  /* tls: servers: CA file to verify the server against */
  char tls_pin[128];               /* tls: servers: sha256:HEX of the server's certificate */
  char tls_cert[VG_CONF_VALUE_MAX]; /* tls: servers: PEM client certificate to present */
  char tls_key[VG_CONF_VALUE_MAX];  /* tls: servers: its PEM private key */
  char shm_size[32];                /* shared region for pinned memory: bytes, K/M/G suffix; 0 = none */
  char shm_device[VG_CONF_VALUE_MAX]; /* a VM's ivshmem region (BAR2 resource file); default: found */
  /* The first problem met while reading, for one warning once logging is up; empty if none. */
  char problem[256];
} vg_conf;

/* Parses file text into c (keys present overwrite; others untouched). Bad lines are skipped and
 * the first one is described in c->problem. Returns the number of bad lines. */
int vg_conf_parse(const char *text, size_t len, vg_conf *c);
/* The process's resolved configuration, read once (file, then environment). Thread-safe. */
const vg_conf *vg_conf_get(void);
/* Forgets the resolved configuration so the next vg_conf_get re-reads it (tests, fork child). */
void vg_conf_reset(void);

#endif
