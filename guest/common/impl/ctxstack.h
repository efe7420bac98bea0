/*
 * The calling thread's context stack (CUcontext handle values), kept in the guest as the real
 * driver keeps it per thread. Only handle values are stored; their validity is checked by whoever
 * uses them (handles.h), so a context destroyed by another thread is detected, not dereferenced.
 */
#ifndef VG_CTXSTACK_H
#define VG_CTXSTACK_H

#include <stddef.h>

/* Top of the stack, or NULL. */
void *vg_ctx_current(void);
/* Returns 0, or -1 when out of memory. */
int vg_ctx_push(void *ctx);
/* Pops into *out; returns -1 when the stack is empty. */
int vg_ctx_pop(void **out);
/* cuCtxSetCurrent: replaces the top (pushes onto an empty stack); NULL pops the top. */
int vg_ctx_set(void *ctx);
/* Removes every entry equal to ctx from this thread's stack (the context was destroyed). */
void vg_ctx_forget(void *ctx);
size_t vg_ctx_depth(void);

#endif
