/*
 * The session's receive buffer: frames read with as few reads as the bytes allow. A small reply
 * arrives with its header in one read; whatever came beyond the frame asked for (a notice, the
 * next frame) stays buffered for the next one. A body too large for the buffer is read straight
 * into its destination after the part already buffered.
 *
 * Not thread-safe: the session reads under its lock (session.c).
 */
#ifndef VG_RX_H
#define VG_RX_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Room for any small reply together with notices around it. */
#define VG_RX_CAP (64u * 1024u)
/* A remainder at least this long is read into its destination, not through the buffer. */
#define VG_RX_DIRECT (VG_RX_CAP / 2u)

typedef struct vg_rx {
  uint8_t *buf; /* VG_RX_CAP bytes, allocated on first use; NULL if that failed */
  size_t pos;   /* next unread byte */
  size_t len;   /* end of the bytes read */
  int no_mem;   /* allocation failed: every read is exact, straight from the socket */
} vg_rx;

#define VG_RX_INIT {NULL, 0, 0, 0}

/* Reads exactly n bytes into p, buffered ones first. 0, or a negative errno (conn.h: -EPIPE at
 * the end of the stream, -ETIMEDOUT past the deadline). */
int vg_rx_read(vg_rx *rx, int fd, void *p, size_t n, uint64_t deadline_ns);
/* Reads one frame header and checks it (vg_wire_get_hdr): 0, a negative errno, or a vg_wire_err. */
int vg_rx_hdr(vg_rx *rx, int fd, vg_frame_hdr *h, uint64_t deadline_ns);
/* Bytes read from the socket and not yet taken. */
size_t vg_rx_buffered(const vg_rx *rx);
/* Forgets the buffered bytes (their connection is gone); keeps the memory. */
void vg_rx_reset(vg_rx *rx);

#endif
