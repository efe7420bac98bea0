/*
 * The session's receive buffer (rx.h).
 */
#include "rx.h"

#include "conn.h"

#include <stdlib.h>
#include <string.h>

size_t vg_rx_buffered(const vg_rx *rx) { return rx->len - rx->pos; }

void vg_rx_reset(vg_rx *rx) { rx->pos = rx->len = 0; }

static int ensure_buffer(vg_rx *rx) {
  if (rx->buf) return 0;
  if (rx->no_mem || !(rx->buf = malloc(VG_RX_CAP))) {
    rx->no_mem = 1;
    return -1;
  }
  return 0;
}

/* Makes at least `need` (<= VG_RX_CAP) bytes buffered, reading as much as has arrived. With
 * nothing buffered the reader is most likely waiting for the answer to what it just sent, which
 * is seldom there yet, so it waits before reading (a poll that returns at once is cheap). */
static int fill(vg_rx *rx, int fd, size_t need, uint64_t deadline_ns) {
  size_t have = rx->len - rx->pos;
  if (have >= need) return 0;
  if (rx->pos) {
    memmove(rx->buf, rx->buf + rx->pos, have);
    rx->pos = 0;
    rx->len = have;
  }
  long r = vg_conn_read_some(fd, rx->buf + have, need - have, VG_RX_CAP - have, deadline_ns, have == 0);
  if (r < 0) return (int)r;
  rx->len += (size_t)r;
  return 0;
}

static void take(vg_rx *rx, void *p, size_t n) {
  memcpy(p, rx->buf + rx->pos, n);
  rx->pos += n;
  if (rx->pos == rx->len) rx->pos = rx->len = 0;
}

int vg_rx_read(vg_rx *rx, int fd, void *p, size_t n, uint64_t deadline_ns) {
  size_t k = vg_rx_buffered(rx) < n ? vg_rx_buffered(rx) : n;
  if (k) take(rx, p, k);
  p = (uint8_t *)p + k;
  n -= k;
  if (!n) return 0;
  if (n >= VG_RX_DIRECT || ensure_buffer(rx)) return vg_conn_read(fd, p, n, deadline_ns);
  int r = fill(rx, fd, n, deadline_ns);
  if (r) return r;
  take(rx, p, n);
  return 0;
}

int vg_rx_hdr(vg_rx *rx, int fd, vg_frame_hdr *h, uint64_t deadline_ns) {
  uint8_t hb[VG_FRAME_HDR_LEN];
  int r;
  if (ensure_buffer(rx)) r = vg_conn_read(fd, hb, sizeof hb, deadline_ns);
  else if ((r = fill(rx, fd, sizeof hb, deadline_ns)) == 0) take(rx, hb, sizeof hb);
  return r ? r : vg_wire_get_hdr(hb, h);
}
