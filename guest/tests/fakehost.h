/*
 * A scripted stand-in for the mediator/executor, run as threads of the test process on a unix
 * socket, so the guest runtime can be tested over a real socket without the TypeScript host.
 * It answers the handshake with a two-device table and implements the hand-written ops
 * (primary contexts, contexts, copies) over a small fake device memory.
 */
#ifndef VG_FAKEHOST_H
#define VG_FAKEHOST_H

#include <stddef.h>
#include <stdint.h>

enum fh_mode {
  FH_NORMAL = 0,
  FH_SILENT,       /* accepts and never answers */
  FH_REFUSE,       /* answers HELLO with ERROR VG_WIRE_STATUS_AUTH */
  FH_DROP_ON_CALL, /* closes the connection at the first CALL */
  FH_BAD_REPLY_ID, /* answers every CALL with a REPLY carrying the wrong id */
  FH_REFUSE_ATTACH, /* answers ATTACH with ATTACHED status VG_WIRE_STATUS_ADMISSION */
  FH_STATUS,        /* speaks minor 2 and answers STATUS with fh_status_reply() */
  FH_NOTICES,       /* speaks minor 3: a SHUTDOWN notice (grace FH_GRACE_MS) before ATTACHED, and
                       FH_OP_ECHO_SPLIT's reply comes with the notices described there */
  FH_HANG_ON_ATTACH, /* never answers ATTACH, and keeps the connection open */
  FH_HANG_ON_CALL,  /* never answers the first CALL, and keeps the connection open */
  FH_CUT_REPLY      /* answers the first CALL with a REPLY header and part of its payload, then
                       closes the connection */
};
#define FH_GRACE_MS 4500u

#define FH_MEM_BASE 0x10000ull
#define FH_MEM_SIZE (12u * 1024 * 1024)
#define FH_MAX_CONN 4
/* A test-only op: the reply echoes the arguments, split into 3-byte REPLY frames. In FH_NOTICES
 * mode the reply is preceded by NOTIFY STDOUT "kernel ", a notice of unknown kind 99 and NOTIFY
 * STDERR "oops\n", and its second frame by NOTIFY STDOUT "says hi\n". */
#define FH_OP_ECHO_SPLIT 0x7777u

typedef struct fh_conn_stats {
  uint32_t hello_pid;
  int attaches;           /* ATTACH frames received */
  int frames;             /* CALL frames received */
  int noreply_frames;
  int more_frames;
  int retains, releases, resets, creates, destroys;
  int statuses;           /* STATUS frames received */
  uint64_t last_ctx;      /* ctx prefix of the last CALL */
  uint32_t last_id;
  int ids_increasing;     /* 1 while every CALL id was above the previous (pieces excepted) */
  int prev_more;
} fh_conn_stats;

typedef struct fakehost {
  enum fh_mode mode;
  char path[108];
  int lfd;
  uint8_t *mem;           /* FH_MEM_SIZE bytes at device address FH_MEM_BASE */
  int nconn;
  fh_conn_stats conn[FH_MAX_CONN];
  uint32_t dtoh_frame_max; /* DtoH replies are split into frames of at most this many bytes */
} fakehost;

/* Starts listening on a fresh socket and sets VGPU_SERVER to it (and VGPU_TOKEN). */
void fh_start(fakehost *fh, enum fh_mode mode);
/* Snapshots taken under the fake host's lock (its connection threads update them). */
fh_conn_stats fh_get(fakehost *fh, int i);
int fh_nconn(fakehost *fh);
/* FH_STATUS's answer: device 0 at 42 % / 7 %, 96 MiB used by pids 1001 (64 MiB) and 1002
 * (32 MiB); device 1 idle with nothing used. */
#define FH_STATUS_PID0 1001u
#define FH_STATUS_PID1 1002u
/* Sets VGPU_SERVER to a socket path nobody listens on. */
void fh_point_at_dead_socket(void);

#endif
