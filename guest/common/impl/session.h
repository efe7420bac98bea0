/*
 * The process's one connection to the host: lazy connect + handshake (bounded by
 * VGPU_HANDSHAKE_TIMEOUT_MS, default 30000, within it the connect: VGPU_CONNECT_TIMEOUT_MS, 3000),
 * ATTACH (VGPU_ATTACH_TIMEOUT_MS, default 300000; docs/guest.md, "Waiting for the host"), the
 * batch of fire-and-forget frames, and the lock that serialises calls. Within a call each send
 * and each read of a reply waits at most VGPU_CALL_TIMEOUT_MS (default 0: as long as the call
 * takes, since a call may wait on GPU work of any length); a connection the host closes fails the
 * call at once. Used by rpc.c and by the local functions that need the WELCOME table.
 *
 * Lock order: callers may hold their own locks when taking the session lock; while holding the
 * session lock only the handle table lock (handles.c) may be taken.
 */
#ifndef VG_SESSION_H
#define VG_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef enum vg_sess_status {
  VG_SESS_OK = 0,
  VG_SESS_UNREACHABLE, /* connect or handshake failed (sticky for the process) */
  VG_SESS_LOST,        /* the connection was lost or a reply was malformed (sticky) */
  VG_SESS_NOT_INIT     /* cuInit has not succeeded */
} vg_sess_status;

/* Where connecting failed, for the doctor (docs/guest.md, "Checking a guest"). */
typedef enum vg_fail_stage {
  VG_FAIL_NONE = 0,  /* connected, or not tried yet */
  VG_FAIL_CONFIG,    /* no server, or an address that does not parse */
  VG_FAIL_CONNECT,   /* the server's address does not answer (or TLS verification failed) */
  VG_FAIL_HANDSHAKE, /* connected, but no valid WELCOME came */
  VG_FAIL_REFUSED    /* the host answered the HELLO with an ERROR frame (*code: its status) */
} vg_fail_stage;

/* Connects and handshakes once (later calls return the remembered outcome). */
vg_sess_status vg_session_connect(void);
/* vg_session_connect, then marks the session initialised (cuInit, nvmlInit). */
vg_sess_status vg_session_init(void);
int vg_session_initialized(void);
/* The stage the failed connect stopped at and the reason it logged; VG_FAIL_NONE with "" when
 * the session is not unreachable. */
vg_fail_stage vg_session_failure(char *why, size_t cap, uint32_t *code);
/* The WELCOME of the first handshake; immutable for the life of the process. NULL if none. */
const vg_welcome *vg_session_welcome(void);
/* VGPU_STRICT_SYNC=1: every call waits for its reply. */
int vg_session_strict_sync(void);
/* Asks the host for this VM's accounting (STATUS before ATTACH, protocol minor 2). Returns 0 with
 * *out decoded (free it with vg_status_free); 1 when this connection cannot ask (the host speaks
 * an older minor, or the connection is attached: executors do not answer STATUS); -1 when the
 * session is unusable (unreachable or lost; the loss is logged once). */
struct vg_status;
int vg_session_status(struct vg_status *out);
/* Registers a function run in the child after fork (after the session is dropped). At most 8. */
void vg_session_on_fork_child(void (*fn)(void));

/* ---- for rpc.c, between lock and unlock ---- */

/* Takes the session lock and makes sure it is connected and attached (ATTACH/ATTACHED before the
 * first CALL, docs/protocol.md). On failure the lock is not held. */
vg_sess_status vg_session_lock(void);
void vg_session_unlock(void);
uint32_t vg_session_next_id(void);
/* The protocol minor of the connection's WELCOME. Session lock held. */
uint16_t vg_session_minor(void);
/* Whether the connection is a Unix socket, which can carry a descriptor. Session lock held. */
int vg_session_is_unix(void);
/* Sends the one byte `byte` with descriptor fd (SCM_RIGHTS), after the batch. Session lock held.
 * Returns 0, or -1 (session lost). */
int vg_session_send_fd(uint8_t byte, int fd);
/* Appends a complete frame to the batch (flushed at 64 KiB). Returns 0, or -1 (session lost). */
int vg_session_queue(const uint8_t *frame, size_t n);
/* Writes the batch, then `frame` (may be NULL). Returns 0, or -1 (session lost). */
int vg_session_send(const uint8_t *frame, size_t n);
/* As vg_session_send, for one whole CALL frame: sent LZ4-compressed where the connection took
 * compression and it pays (compress.h). The frame's last `tn` bytes may be given apart, as
 * `tail`, sent from where they are: only where the connection does not compress, as compressing
 * needs the frame in one piece (vg_session_compresses). */
int vg_session_send_call(const uint8_t *frame, size_t n, const void *tail, size_t tn);
/* Whether CALLs are sent LZ4-compressed where it pays (the WELCOME offered it). Session lock held. */
int vg_session_compresses(void);
/* Reads exactly n bytes / one validated frame header. Returns 0, or -1 (session lost, also when
 * VGPU_CALL_TIMEOUT_MS passes without the bytes). */
int vg_session_read(void *p, size_t n);
int vg_session_read_hdr(vg_frame_hdr *h);
/* Marks the session lost: logs `why` once, closes the socket; later calls get
 * CUDA_ERROR_DEVICE_UNAVAILABLE. */
void vg_session_fail(const char *why);
/* The ERROR frame the host sent in place of a reply: logs it and fails the session. */
void vg_session_host_error(const vg_frame_hdr *h);
/* A NOTIFY frame met while waiting for a reply (docs/protocol.md, "Notices"): its payload is read
 * and acted on (kernel output written to stdout or stderr, a shutdown notice logged). Returns 0,
 * or -1 after failing the session. */
int vg_session_notice(const vg_frame_hdr *h);

#endif
