/*
 * Guest handle values. A CUDA handle the guest library hands out (CUcontext, CUstream, ...) is not
 * a pointer but a tagged integer: kind in bits 56..63, generation in bits 32..55, slot index in
 * bits 0..31. It is never dereferenced, so a stale or forged handle is detected (wrong kind or
 * generation) instead of crashing. Each slot records the executor's remote id for the object.
 */
#ifndef VG_HANDLES_H
#define VG_HANDLES_H

#include <stdint.h>

/* vg_hkind: VG_H_NONE, one VG_H_<KIND> per kind of src/protocol/handles.ts, VG_H_KIND_COUNT. */
#include "handle-kinds.h"

/* Allocates a slot for a remote object; returns the handle value (never NULL, never (void*)-1). */
void *vg_handle_new(vg_hkind kind, uint64_t rid, void *data);
/* Returns 0 and fills rid/data when h is a live handle of kind; -1 otherwise. */
int vg_handle_get(const void *h, vg_hkind kind, uint64_t *rid, void **data);
/* Kind of a live handle, VG_H_NONE if not live. */
vg_hkind vg_handle_kind(const void *h);
/* Invalidates the slot (generation bump); returns its data pointer for the caller to free. */
void *vg_handle_release(const void *h);

/* ---- added by the guest runtime (guest/common/impl/handles.c) ---- */

/* Changes the remote id recorded for a live handle of kind (a primary context gets a new one each
 * time it is activated); returns 0, or -1 when h is not live of that kind. */
int vg_handle_set_rid(const void *h, vg_hkind kind, uint64_t rid);
/* The live handle of kind whose remote id is rid, or NULL (rid 0 is never found). */
void *vg_handle_find(vg_hkind kind, uint64_t rid);
/* Fork child: the remote objects belong to the parent's session. Every handle except contexts is
 * invalidated and every remote id (contexts included) is forgotten. */
void vg_handle_fork_child(void);
/* Around fork (called by the session's pthread_atfork handlers, in lock order). */
void vg_handle_fork_prepare(void);
void vg_handle_fork_parent(void);

#endif
