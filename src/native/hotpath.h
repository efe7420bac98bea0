/*
 * The executor's native hot path (docs/executors.md, "Native hot path"). The executor gives the
 * guest's connection to vg_hot_start(); from then on the connection has one owner at a time: a
 * thread of this library, which serves the hot ops (src/native/gen/hot-ops.h, generated from
 * spec/) in C, or the executor's TypeScript SessionServer, which serves everything else. They hand
 * it to each other over a socketpair (VG_HOT_TAKE, VG_HOT_MARKER below), so frames are served in
 * order and the driver is never called for the session from both sides at once.
 */
#ifndef VG_HOTPATH_H
#define VG_HOTPATH_H

#include <stddef.h>
#include <stdint.h>

#define VG_HOT_EXPORT __attribute__((visibility("default")))

/* Control frames on the socketpair: no wire frame has these types (docs/protocol.md's end at 12),
 * and they never leave the executor. MARKER (executor -> here): the executor has served all it
 * read, stopped reading the connection and written all it had: the connection is this side's.
 * REQUEST (executor -> here): the executor wants the connection back now (it has a notice to
 * write). TAKE (here -> executor): the connection is the executor's from now on; the payload is
 * what was read of it but not served, to be served first. Only the owner writes to the guest. */
#define VG_HOT_MARKER 0xfffe
#define VG_HOT_TAKE 0xfffd
#define VG_HOT_REQUEST 0xfffc

struct vg_hot;

/* Indices of the counters vg_hot_stats() fills. */
enum {
  VG_HOT_STAT_CALLS,       /* calls served natively */
  VG_HOT_STAT_ASYNC_CALLS, /* of which NOREPLY */
  VG_HOT_STAT_BYTES_IN,    /* guest bytes consumed by native calls */
  VG_HOT_STAT_BYTES_OUT,   /* bytes of native replies and the kernel output sent with them */
  VG_HOT_STAT_BUSY_NS,     /* time spent serving native calls */
  VG_HOT_STAT_DROPPED_OUTPUT, /* kernel output bytes a guest without notices could not be sent */
  VG_HOT_STAT_SWITCHES,    /* hand-overs to the executor (NATIVE -> JS) */
  VG_HOT_STAT_HANDBACKS,   /* hand-backs taken (JS -> NATIVE) */
  VG_HOT_NSTATS
};

/*
 * Starts serving `guest_fd` (duplicated: the caller may close its own). `driver` is the path the
 * executor loaded its driver from (opened again here, so the same instance). Returns the handle and
 * stores the executor's end of the socketpair in *js_fd, or NULL with errno set.
 */
VG_HOT_EXPORT struct vg_hot *vg_hot_start(int guest_fd, const char *driver, int *js_fd);

/* Ends: waits for the executor's end of the socketpair to close (a notice it wrote there before is
 * still delivered), this side's answers to be written (at most ~1 s), the thread to end; frees
 * everything. */
VG_HOT_EXPORT void vg_hot_stop(struct vg_hot *h);

/* Whether native calls may run (the session holds its GPU slice and nothing makes it give the slice
 * up between calls). Returns once no native call is running. */
VG_HOT_EXPORT void vg_hot_allow(struct vg_hot *h, int allowed);

/* Whether the guest takes notices (kernel output is sent as NOTIFY frames; else it is counted). */
VG_HOT_EXPORT void vg_hot_set_notices(struct vg_hot *h, int on);

/* The mirror of the session's handle table (only the kinds hot ops take are kept). */
VG_HOT_EXPORT void vg_hot_handle_add(struct vg_hot *h, uint64_t id, int kind, uint64_t real);
VG_HOT_EXPORT void vg_hot_handle_remove(struct vg_hot *h, uint64_t id);

/* The mirror of the session's device ranges (allocations, module globals, mappings). */
VG_HOT_EXPORT void vg_hot_range_add(struct vg_hot *h, uint64_t base, uint64_t size);
VG_HOT_EXPORT void vg_hot_range_remove(struct vg_hot *h, uint64_t base, uint64_t size);

/* The session's deferred error (the first error of a NOREPLY call, reported by the next
 * synchronizing call), shared by both paths. */
VG_HOT_EXPORT void vg_hot_defer(struct vg_hot *h, int res);
VG_HOT_EXPORT int vg_hot_take_deferred(struct vg_hot *h);

/* The wire ids of the ops it can serve, up to `max` of them into `out`; returns how many there are. */
VG_HOT_EXPORT size_t vg_hot_op_ids(uint32_t *out, size_t max);

/* Copies the counters (VG_HOT_NSTATS of them, cumulative). */
VG_HOT_EXPORT void vg_hot_stats(struct vg_hot *h, uint64_t *out);

#endif
