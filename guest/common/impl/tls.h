/*
 * TLS for `tls:HOST:PORT` servers (docs/virtual-machines.md, "TLS"). OpenSSL is loaded at run
 * time with dlopen("libssl.so.3"), so libcuda.so.1 has no link-time dependency on it and guests
 * that never use tls: need no OpenSSL at all. The server is verified against a CA file, a pinned
 * SHA-256 fingerprint of its certificate, or both; with neither configured the connection is
 * refused before anything is sent, so the VM token never leaves the guest unprotected. A client
 * certificate and key may be presented too (mutual TLS): a VM bound to the certificate on the host
 * needs no token (docs/virtual-machines.md, "Client certificates").
 *
 * Connections are keyed by their file descriptor: conn.c routes reads and writes on a TLS
 * descriptor through its SSL object. Every use of one connection is serialized by its caller
 * (session.c holds its lock), as OpenSSL requires.
 */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* What a tls: connection verifies the server with and presents as the client; every field may be
 * NULL or empty. The strings are the caller's (the configuration's) and must outlive the call. */
typedef struct vg_tls_conf {
  const char *ca;   /* CA file to verify the server against */
  const char *pin;  /* "sha256:HEX" of the server's certificate */
  const char *cert; /* PEM client certificate (chain) to present */
  const char *key;  /* PEM private key of `cert` (unencrypted: nobody is there to type a passphrase) */
} vg_tls_conf;

/* "sha256:HEX" (64 hex digits, ':' between bytes allowed, any case) into 32 bytes; 0 or -1. */
int vg_tls_parse_pin(const char *spec, uint8_t out[32]);

/* Is the verification configured (a CA file and/or a well-formed pin), the client certificate
 * and key given together and readable, and OpenSSL loadable? 0, or -1 with the reason in err.
 * Checked before connecting: a guest that could never verify the server does not reach it. */
int vg_tls_check_config(const vg_tls_conf *c, char *err, size_t errcap);

/* Runs the TLS handshake on the connected non-blocking socket fd (server name `host` for SNI and,
 * with a CA file, for the name check), presenting the client certificate when there is one, and
 * verifies the server with c->ca and/or c->pin (not neither). 0, with fd now a TLS connection; or
 * -1 with the reason in err (fd is left to the caller to close). */
int vg_tls_start(int fd, const char *host, const vg_tls_conf *c, uint64_t deadline_ns, char *err, size_t errcap);

/* Is fd a TLS connection made by vg_tls_start? */
int vg_tls_active(int fd);
/* The same contracts as vg_conn_read_some/writev/wait_readable (conn.h), over TLS. */
long vg_tls_read_some(int fd, void *p, size_t min, size_t cap, uint64_t deadline_ns);
int vg_tls_writev(int fd, struct iovec *iov, int iovcnt, uint64_t deadline_ns);
int vg_tls_wait_readable(int fd, uint64_t deadline_ns);
/* Frees fd's TLS state (nothing is sent: the socket is closed right after). */
void vg_tls_forget(int fd);
/* In a fork child: forgets every TLS connection without touching OpenSSL (the parent's copies
 * stay the parent's; the child's share of the memory is left, as freeing it could meet a lock
 * another thread of the parent held at fork time). */
void vg_tls_forget_all_after_fork(void);

#endif
