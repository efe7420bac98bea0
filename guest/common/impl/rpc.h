/*
 * The call runtime that generated stubs (guest/cuda/gen/stubs.c) and hand-written guest code use
 * to forward one driver call. Wire format: docs/protocol.md.
 *
 * Usage, for one call:
 *     vg_call c;
 *     CUresult r = vg_call_begin(&c, VG_OP_x, flags);   // connects lazily; error => nothing sent
 *     if (r) return r;
 *     vg_put_u32(&c, ...); vg_put_handle(&c, VG_H_STREAM, h) ...   // inputs, declaration order
 *     r = vg_call_invoke(&c);     // sends (or queues when VG_CALL_ASYNC) and waits for the reply
 *     if (r == CUDA_SUCCESS) { *out = vg_get_u64(&c); ... }        // outputs, declaration order
 *     return vg_call_end(&c, r);  // releases the connection; returns r (or a decode error)
 *
 * Between begin and end the calling thread holds the session lock, so frames of one call are never
 * interleaved with another thread's. Put/get never fail individually: an encoding or decoding
 * failure is latched in the call and reported by invoke/end.
 */
#ifndef VG_RPC_H
#define VG_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <cuda.h>

#include "handles.h"
#include "log.h"

enum {
  VG_CALL_ASYNC = 1u << 0, /* fire-and-forget: queued in the batch, no reply (unless VGPU_STRICT_SYNC) */
  VG_CALL_SYNC = 1u << 1   /* marks a call that reports the session's deferred error */
};

typedef struct vg_call {
  uint32_t op;
  uint32_t flags;
  uint32_t id;
  int failed;          /* latched CUresult of an encode/decode failure, 0 if none */
  /* request encoding */
  uint8_t *req;        /* owned by the session; frame header is written by invoke */
  size_t req_len, req_cap;
  const void *tail;    /* the request's last bytes, sent from where they are (vg_put_bytes_tail) */
  size_t tail_len;
  int incompressible;  /* a piece's tail failed the compression sample: the later ones skip it */
  /* reply decoding */
  const uint8_t *rep;
  size_t rep_len, rep_pos;
  uint64_t t_start_ns; /* for VGPU_LOG=debug tracing; 0 when not tracing */
  /* Last: vg_call_begin clears the fields above only, so a call not traced never touches it. */
  vg_targs trace;
} vg_call;

/* Nonzero while this call is traced (VGPU_LOG=debug): the generated stubs then describe their
 * arguments in c->trace. */
static inline int vg_call_tracing(const vg_call *c) { return c->t_start_ns != 0; }

CUresult vg_call_begin(vg_call *c, uint32_t op, uint32_t flags);
CUresult vg_call_invoke(vg_call *c);
CUresult vg_call_end(vg_call *c, CUresult r);

void vg_put_u32(vg_call *c, uint32_t v);
void vg_put_i32(vg_call *c, int32_t v);
void vg_put_u64(vg_call *c, uint64_t v);
void vg_put_f32(vg_call *c, float v);
void vg_put_u8(vg_call *c, uint8_t v);
void vg_put_bytes(vg_call *c, const void *p, uint64_t n);  /* u64 n + bytes */
void vg_put_raw(vg_call *c, const void *p, size_t n);       /* n bytes, no length (fixed-size fields) */
/* As vg_put_bytes, as the request's last field: large data is not copied into the request but
 * sent from `p` (which must stay valid until the call is sent); nothing may be put after it. */
void vg_put_bytes_tail(vg_call *c, const void *p, uint64_t n);
void vg_put_str(vg_call *c, const char *s);                 /* u16 n + bytes; latches INVALID_VALUE past 4096 */
/* Writes the remote id of a guest handle; latches INVALID_HANDLE (INVALID_CONTEXT for contexts)
 * when h is not a live handle of that kind. NULL is written as 0 only when nullable != 0. */
void vg_put_handle(vg_call *c, vg_hkind kind, const void *h, int nullable);

uint32_t vg_get_u32(vg_call *c);
int32_t vg_get_i32(vg_call *c);
uint64_t vg_get_u64(vg_call *c);
float vg_get_f32(vg_call *c);
uint8_t vg_get_u8(vg_call *c);
/* Copies a bytes field into dst (capacity cap); latches an error if it does not fit. */
void vg_get_bytes(vg_call *c, void *dst, uint64_t cap);
/* Copies n bytes of a fixed-size field (no length prefix) into dst. */
void vg_get_raw(vg_call *c, void *dst, size_t n);
/* Copies a str field into dst (capacity cap, always NUL-terminated, truncating). */
void vg_get_str(vg_call *c, char *dst, size_t cap);
/* Reads a remote id and returns the guest handle for it, creating one of `kind` if new. */
void *vg_get_new_handle(vg_call *c, vg_hkind kind);

/* A library's hook around calls that submit device work or synchronise (VG_CALL_ASYNC or
 * VG_CALL_SYNC): before(op) runs before the call takes the session, and a non-zero CUresult from
 * it fails the call unsent; after(op, r) runs once the session is released, for VG_CALL_SYNC calls.
 * libcuda's coherent host memory uses it (guest/cuda/impl/coherent.c). NULL hooks: none. */
typedef CUresult (*vg_call_before_fn)(uint32_t op);
typedef void (*vg_call_after_fn)(uint32_t op, CUresult r);
void vg_call_set_hooks(vg_call_before_fn before, vg_call_after_fn after);

/* Logs once per function that an unsupported entry point was called; returns NOT_SUPPORTED. */
CUresult vg_unsupported(const char *name);

/* ---- added by the guest runtime for the hand-written bulk copies (guest/cuda/impl/memory.c) ---- */

/* Sends the arguments put so far as one CALL frame flagged MORE (a piece of a multi-frame call,
 * docs/protocol.md "Bulk data") and starts the next piece with a fresh `u64 ctx` prefix. */
CUresult vg_call_send_piece(vg_call *c);
/* Like vg_call_invoke for a call whose successful reply is `u32 result` followed by exactly n raw
 * bytes (over any number of REPLY frames): the bytes are read straight into dst. */
CUresult vg_call_invoke_into(vg_call *c, void *dst, uint64_t n);

#endif
