/* The session's receive buffer (rx.h) over a real socketpair: frames split across reads, several
 * frames in one read, bodies larger than the buffer, and the end of the stream inside a frame.
 * The session's socket is non-blocking; each case runs without a deadline (a call without
 * VGPU_CALL_TIMEOUT_MS) and with one (the handshake, or a call with a limit). */
#include "conn.h"
#include "log.h"
#include "rx.h"
#include "vgtest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

/* Far beyond any test's run time: only a wait for bytes that never come could reach it. */
#define DEADLINE_S 20ull

typedef struct peer {
  int rd, wr; /* the reader's end (vg_rx) and the writer's end (the "host") */
  uint64_t deadline;
} peer;

static peer pair(int with_deadline) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  peer p = {.rd = sv[0], .wr = sv[1]};
  ASSERT_EQ(fcntl(p.rd, F_SETFL, fcntl(p.rd, F_GETFL) | O_NONBLOCK), 0);
  if (with_deadline) p.deadline = vg_now_ns() + DEADLINE_S * 1000000000ull;
  return p;
}

static void put_all(int fd, const void *p, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
    if (w <= 0) VGT_FAIL("send: %s", strerror(errno));
    off += (size_t)w;
  }
}

/* Appends a frame to b at *len (b has room for it). */
static void frame(uint8_t *b, size_t *len, uint16_t type, uint16_t flags, uint32_t id, uint32_t op, const void *pl,
                  uint32_t n) {
  vg_frame_hdr h = {.len = n, .type = type, .flags = flags, .id = id, .op = op};
  vg_wire_put_hdr(b + *len, &h);
  *len += VG_FRAME_HDR_LEN;
  if (n) memcpy(b + *len, pl, n);
  *len += n;
}

/* Waits until the reader has taken every byte written so far: the next piece then reaches it in
 * a read of its own. */
static void wait_drained(int rd) {
  for (;;) {
    int queued = 0;
    ASSERT_EQ(ioctl(rd, FIONREAD, &queued), 0);
    if (queued == 0) return;
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
}

typedef struct pieces {
  peer *p;
  const uint8_t *bytes;
  const size_t *cuts; /* piece ends, ascending, the last one the total */
  int n;
} pieces;

static void *write_pieces(void *arg) {
  pieces *w = arg;
  size_t off = 0;
  for (int i = 0; i < w->n; i++) {
    if (i) wait_drained(w->p->rd);
    put_all(w->p->wr, w->bytes + off, w->cuts[i] - off);
    off = w->cuts[i];
  }
  return NULL;
}

static void expect_hdr(vg_rx *rx, peer *p, uint16_t type, uint32_t id, uint32_t len) {
  vg_frame_hdr h;
  ASSERT_EQ(vg_rx_hdr(rx, p->rd, &h, p->deadline), 0);
  ASSERT_EQ(h.type, type);
  ASSERT_U64_EQ(h.id, id);
  ASSERT_U64_EQ(h.len, len);
}

/* A REPLY arriving in four pieces, cut inside the header and inside the body: one frame. */
static void split_reply(int with_deadline) {
  peer p = pair(with_deadline);
  uint8_t b[256], body[40], got[40];
  size_t len = 0;
  for (size_t i = 0; i < sizeof body; i++) body[i] = (uint8_t)(i * 7 + 1);
  frame(b, &len, VG_FT_REPLY, 0, 5, 0, body, sizeof body);
  size_t cuts[] = {3, 11, 30, len};
  pieces w = {&p, b, cuts, 4};
  pthread_t t;
  pthread_create(&t, NULL, write_pieces, &w);
  vg_rx rx = VG_RX_INIT;
  expect_hdr(&rx, &p, VG_FT_REPLY, 5, sizeof body);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, sizeof got, p.deadline), 0);
  ASSERT_TRUE(memcmp(got, body, sizeof body) == 0);
  pthread_join(t, NULL);
  ASSERT_EQ(vg_rx_buffered(&rx), 0);
  free(rx.buf);
}

TEST(rx_reply_split_across_reads_no_deadline) { split_reply(0); }
TEST(rx_reply_split_across_reads_with_deadline) { split_reply(1); }

/* A NOTIFY and the REPLY after it, written at once: the first read takes both; the REPLY is then
 * served from the buffer, even with the writer gone. */
static void notice_then_reply(int with_deadline) {
  peer p = pair(with_deadline);
  uint8_t b[256], got[16];
  size_t len = 0;
  frame(b, &len, VG_FT_NOTIFY, 0, 0, VG_NOTICE_STDOUT, "kernel says hi\n", 15);
  frame(b, &len, VG_FT_REPLY, 0, 9, 0, "\0\0\0\0abcd", 8);
  put_all(p.wr, b, len);
  close(p.wr);
  vg_rx rx = VG_RX_INIT;
  expect_hdr(&rx, &p, VG_FT_NOTIFY, 0, 15);
  ASSERT_EQ(vg_rx_buffered(&rx), len - VG_FRAME_HDR_LEN); /* one read brought both frames */
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, 15, p.deadline), 0);
  ASSERT_TRUE(memcmp(got, "kernel says hi\n", 15) == 0);
  expect_hdr(&rx, &p, VG_FT_REPLY, 9, 8);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, 8, p.deadline), 0);
  ASSERT_TRUE(memcmp(got, "\0\0\0\0abcd", 8) == 0);
  ASSERT_EQ(vg_rx_buffered(&rx), 0);
  vg_frame_hdr h;
  ASSERT_EQ(vg_rx_hdr(&rx, p.rd, &h, p.deadline), -EPIPE); /* then the end, cleanly */
  close(p.rd);
  free(rx.buf);
}

TEST(rx_notice_then_reply_in_one_read_no_deadline) { notice_then_reply(0); }
TEST(rx_notice_then_reply_in_one_read_with_deadline) { notice_then_reply(1); }

/* Two REPLY frames in one read (the answers to a pipelined fire-and-forget call under
 * VGPU_STRICT_SYNC and to the next call): the second stays buffered, whole, for the next call. */
static void reply_then_next_reply(int with_deadline) {
  peer p = pair(with_deadline);
  uint8_t b[256], got[12];
  size_t len = 0;
  frame(b, &len, VG_FT_REPLY, 0, 1, 0, "\0\0\0\0", 4);
  size_t first = len;
  frame(b, &len, VG_FT_REPLY, 0, 2, 0, "\0\0\0\0\x01\x02\x03\x04\x05\x06\x07\x08", 12);
  put_all(p.wr, b, len);
  vg_rx rx = VG_RX_INIT;
  expect_hdr(&rx, &p, VG_FT_REPLY, 1, 4);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, 4, p.deadline), 0);
  ASSERT_EQ(vg_rx_buffered(&rx), len - first);
  close(p.wr);
  expect_hdr(&rx, &p, VG_FT_REPLY, 2, 12);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, 12, p.deadline), 0);
  ASSERT_TRUE(memcmp(got, "\0\0\0\0\x01\x02\x03\x04\x05\x06\x07\x08", 12) == 0);
  close(p.rd);
  free(rx.buf);
}

TEST(rx_reply_then_next_reply_in_one_read_no_deadline) { reply_then_next_reply(0); }
TEST(rx_reply_then_next_reply_in_one_read_with_deadline) { reply_then_next_reply(1); }

/* A header and a body several times the buffer (a bulk DtoH piece), then a small frame: the body
 * arrives whole and in order, and the frame after it is read as usual. */
static void bulk_body(int with_deadline) {
  peer p = pair(with_deadline);
  const uint32_t n = 5u * VG_RX_CAP + 123u;
  uint8_t *b = malloc(n + 3u * VG_FRAME_HDR_LEN + 64), *body = malloc(n), *got = malloc(n);
  size_t len = 0;
  for (uint32_t i = 0; i < n; i++) body[i] = (uint8_t)(i * 131u + i / 4096u);
  frame(b, &len, VG_FT_REPLY, VG_FF_MORE, 3, 0, body, n);
  frame(b, &len, VG_FT_REPLY, 0, 3, 0, "tail", 4);
  size_t cuts[] = {VG_FRAME_HDR_LEN + 1000, len}; /* part of the body with the header, then the rest */
  pieces w = {&p, b, cuts, 2};
  pthread_t t;
  pthread_create(&t, NULL, write_pieces, &w);
  vg_rx rx = VG_RX_INIT;
  expect_hdr(&rx, &p, VG_FT_REPLY, 3, n);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, n, p.deadline), 0);
  ASSERT_TRUE(memcmp(got, body, n) == 0);
  expect_hdr(&rx, &p, VG_FT_REPLY, 3, 4);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, 4, p.deadline), 0);
  ASSERT_TRUE(memcmp(got, "tail", 4) == 0);
  pthread_join(t, NULL);
  free(b);
  free(body);
  free(got);
  free(rx.buf);
}

TEST(rx_bulk_body_larger_than_the_buffer_no_deadline) { bulk_body(0); }
TEST(rx_bulk_body_larger_than_the_buffer_with_deadline) { bulk_body(1); }

/* The host goes away inside a frame: inside the body, and inside the header. A clean -EPIPE, not
 * a hang and not the bytes of a partial frame. */
static void eof_mid_frame(int with_deadline) {
  peer p = pair(with_deadline);
  uint8_t b[256], got[100];
  size_t len = 0;
  frame(b, &len, VG_FT_REPLY, 0, 4, 0, "0123456789012345678901234567890123456789", 40);
  put_all(p.wr, b, VG_FRAME_HDR_LEN + 30);
  close(p.wr);
  vg_rx rx = VG_RX_INIT;
  expect_hdr(&rx, &p, VG_FT_REPLY, 4, 40);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, got, 40, p.deadline), -EPIPE);
  close(p.rd);
  vg_rx_reset(&rx);
  p = pair(with_deadline);
  put_all(p.wr, b, 10);
  close(p.wr);
  vg_frame_hdr h;
  ASSERT_EQ(vg_rx_hdr(&rx, p.rd, &h, p.deadline), -EPIPE);
  close(p.rd);
  free(rx.buf);
}

TEST(rx_eof_mid_frame_is_a_clean_error_no_deadline) { eof_mid_frame(0); }
TEST(rx_eof_mid_frame_is_a_clean_error_with_deadline) { eof_mid_frame(1); }

/* A frame that never completes: the deadline ends the wait. */
TEST(rx_deadline_ends_the_wait_for_a_cut_frame) {
  peer p = pair(1);
  uint8_t b[64];
  size_t len = 0;
  frame(b, &len, VG_FT_REPLY, 0, 4, 0, "abcdefgh", 8);
  put_all(p.wr, b, VG_FRAME_HDR_LEN + 2);
  vg_rx rx = VG_RX_INIT;
  expect_hdr(&rx, &p, VG_FT_REPLY, 4, 8);
  ASSERT_EQ(vg_rx_read(&rx, p.rd, b, 8, vg_now_ns() + 50000000ull), -ETIMEDOUT);
  close(p.wr);
  close(p.rd);
  free(rx.buf);
}

/* A malformed header is reported as what it is (a vg_wire_err), not as an I/O failure. */
TEST(rx_malformed_header_is_a_wire_error) {
  peer p = pair(0);
  uint8_t b[VG_FRAME_HDR_LEN];
  size_t len = 0;
  frame(b, &len, VG_FT_REPLY, 0, 1, 0, NULL, 0);
  b[4] = 0xee; /* no such frame type */
  put_all(p.wr, b, sizeof b);
  vg_rx rx = VG_RX_INIT;
  vg_frame_hdr h;
  ASSERT_EQ(vg_rx_hdr(&rx, p.rd, &h, 0), VG_WIRE_ETYPE);
  close(p.wr);
  close(p.rd);
  free(rx.buf);
}
