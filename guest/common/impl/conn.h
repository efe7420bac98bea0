/*
 * Transport: parse a server address, connect within a deadline, and move bytes. Sockets are
 * non-blocking and every wait goes through poll with an optional deadline, so the handshake is
 * bounded while later calls (which may legitimately take long on the GPU) wait without one.
 */
#ifndef VG_CONN_H
#define VG_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tls.h"

/* TCP liveness (conn.c, keep_alive): a vanished host is noticed within about a minute. */
#define VG_KEEPALIVE_IDLE_S 30
#define VG_KEEPALIVE_INTVL_S 10
#define VG_KEEPALIVE_CNT 3
#define VG_USER_TIMEOUT_MS 60000u

/* The CID of the host as a VM's guest sees it (VMADDR_CID_HOST), the default of vsock:PORT. */
#define VG_VSOCK_CID_HOST 2u

typedef struct vg_addr {
  int is_unix;
  int is_vsock;
  int is_tls;       /* tls:HOST:PORT: TCP (host, port) with TLS (tls.h) */
  vg_tls_conf tls;  /* tls: how the server is verified and the client certificate (the caller's) */
  char path[108];   /* unix: socket path; a leading '@' names an abstract socket */
  char host[256];   /* tcp */
  char port[8];
  uint32_t cid;     /* vsock */
  uint32_t vport;   /* vsock */
} vg_addr;

/* "unix:PATH", "tcp:HOST:PORT" ("tcp:[v6addr]:PORT" for IPv6 literals), "tls:HOST:PORT" (the same
 * forms; set tls.ca and/or tls.pin before vg_conn_open), "vsock:PORT" or
 * "vsock:CID:PORT" (CID default VG_VSOCK_CID_HOST). 0 or -1 + err. */
int vg_addr_parse(const char *spec, vg_addr *a, char *err, size_t errcap);
/* Connected non-blocking socket (TCP_NODELAY and keepalive on TCP; the TLS handshake and the
 * server's verification done on tls:), or -1 with the reason in err. */
int vg_conn_open(const vg_addr *a, uint64_t deadline_ns, char *err, size_t errcap);
/* Closes a connection from vg_conn_open (and frees its TLS state). */
void vg_conn_close(int fd);
/* Waits for fd to be ready for `events` (poll's); 0, or a negative errno. */
int vg_conn_poll(int fd, short events, uint64_t deadline_ns);
/* 0 on success; otherwise a negative errno (-ETIMEDOUT past the deadline, -EPIPE on EOF).
 * deadline_ns 0 means none; it is a vg_now_ns() value. */
int vg_conn_writev(int fd, struct iovec *iov, int iovcnt, uint64_t deadline_ns);
int vg_conn_write(int fd, const void *p, size_t n, uint64_t deadline_ns);
int vg_conn_read(int fd, void *p, size_t n, uint64_t deadline_ns);
/* Reads at least min and at most cap bytes into p (min <= cap), taking whatever has arrived in as
 * few reads as it can: the number read, or a negative errno as vg_conn_read. With wait_first the
 * caller expects nothing yet (it has just sent a call): it waits in poll before reading instead
 * of after a read that finds nothing. */
long vg_conn_read_some(int fd, void *p, size_t min, size_t cap, uint64_t deadline_ns, int wait_first);
/* Waits until fd has bytes to read (or EOF): 0, or a negative errno (-ETIMEDOUT past the deadline). */
int vg_conn_wait_readable(int fd, uint64_t deadline_ns);

#endif
