/*
 * The executor's native hot path (docs/executors.md, "Native hot path"). The executor hands the
 * guest's connection to vg_hot_start(); a thread of this library then owns it and serves the hot
 * ops (src/native/gen/hot-ops.h, generated from spec/) in C, and relays everything else, in
 * order, over a socketpair whose other end the executor's TypeScript SessionServer serves as it
 * would the guest's connection.
 *
 * Two modes. NATIVE: frames are read here; a CALL of a hot op without MORE or LZ4 whose handles
 * are in the mirror, while the executor allows native serving (the session holds its GPU slice
 * uncontended), is executed here and answered. Any other frame switches to JS mode: it and every
 * later byte go to the socketpair. JS: bytes pass both ways; once the executor has served all it
 * was given it writes a hand-back marker (a frame of type VG_HOT_MARKER whose u64 payload is the
 * number of bytes it has read), and this side returns to NATIVE if that equals what it forwarded.
 * The executor and this thread thus never issue driver calls for the session at the same time.
 */
#ifndef VG_HOTPATH_H
#define VG_HOTPATH_H

#include <stdint.h>

#define VG_HOT_EXPORT __attribute__((visibility("default")))

/* The hand-back marker's frame type: no wire frame has it (docs/protocol.md's types end at 12), and
 * it never leaves the executor. */
#define VG_HOT_MARKER 0xfffe

struct vg_hot;

/* Indices of the counters vg_hot_stats() fills. */
enum {
  VG_HOT_STAT_CALLS,       /* calls served natively */
  VG_HOT_STAT_ASYNC_CALLS, /* of which NOREPLY */
  VG_HOT_STAT_BYTES_IN,    /* guest bytes consumed by native calls */
  VG_HOT_STAT_BYTES_OUT,   /* bytes of native replies and the kernel output sent with them */
  VG_HOT_STAT_BUSY_NS,     /* time spent serving native calls */
  VG_HOT_STAT_DROPPED_OUTPUT, /* kernel output bytes a guest without notices could not be sent */
  VG_HOT_STAT_SWITCHES,    /* NATIVE -> JS switches */
  VG_HOT_STAT_HANDBACKS,   /* hand-backs taken (JS -> NATIVE) */
  VG_HOT_NSTATS
};

/*
 * Starts serving `guest_fd` (duplicated: the caller may close its own). `driver` is the path the
 * executor loaded its driver from (opened again here, so the same instance). Returns the handle and
 * stores the executor's end of the socketpair in *js_fd, or NULL with errno set.
 */
VG_HOT_EXPORT struct vg_hot *vg_hot_start(int guest_fd, const char *driver, int *js_fd);

/* Ends the relay: waits for the executor's end to close (what it wrote before is still delivered),
 * the guest's answers to be written (at most ~1 s), the thread to end; frees everything. */
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

/* Copies the counters (VG_HOT_NSTATS of them, cumulative). */
VG_HOT_EXPORT void vg_hot_stats(struct vg_hot *h, uint64_t *out);

/* Whether the guest's connection is a Unix socket (one that can carry a descriptor). */
VG_HOT_EXPORT int vg_hot_guest_is_unix(struct vg_hot *h);

#endif
