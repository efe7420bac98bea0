/*
 * STATUS_REPLY (docs/protocol.md, "Status before ATTACH", protocol minor 2): the host's accounting
 * of this VM per vGPU - utilization over the last sampling window, memory in use, the attached
 * guest processes - and optional board values. Codec only; vg_session_status (session.h) moves
 * the frames.
 */
#ifndef VG_STATUS_H
#define VG_STATUS_H

#include <stdint.h>

#include "wire.h"

#define VG_MAX_STATUS_DEVICES 64u
#define VG_MAX_STATUS_PROCS 1024u
/* Extension tags of a STATUS_REPLY. Unknown tags are skipped. */
#define VG_STATUS_EXT_BOARD 1u
#define VG_STATUS_EXT_BOARD_CLOCKS 2u
/* A board value the host does not know (NVML_ERROR_NOT_SUPPORTED in the guest). */
#define VG_BOARD_UNKNOWN 0xffffffffu

typedef struct vg_status_proc {
  uint32_t pid;     /* guest process id from its HELLO */
  uint64_t used;    /* device memory its session holds, bytes */
} vg_status_proc;

typedef struct vg_status_dev {
  uint32_t gpu_pct, mem_pct; /* 0..100 over the window */
  uint64_t mem_used;         /* the VM's memory in use on this vGPU, as cuMemGetInfo reports it */
  uint32_t nproc;
  vg_status_proc *proc;
} vg_status_dev;

/* Physical-board readings from the host's NVML, in NVML units; VG_BOARD_UNKNOWN where unread.
 * Both board records hold only their wire fields, in wire order (the codec relies on it). */
typedef struct vg_status_board {
  uint32_t temp_c, power_mw, power_limit_mw, sm_mhz, mem_mhz, fan_pct;
} vg_status_board;

/* The rest of the board's readings (tag 2), same units and VG_BOARD_UNKNOWN; pstate 0..15. */
typedef struct vg_status_clocks {
  uint32_t gfx_mhz, sm_max_mhz, mem_max_mhz, gfx_max_mhz, pstate;
} vg_status_clocks;

typedef struct vg_status {
  uint32_t window_ms;     /* the window the utilization covers; 0 = no sample yet */
  uint32_t count;
  vg_status_dev *dev;
  vg_status_board *board; /* count records, or NULL when the host sent none */
  vg_status_clocks *clocks; /* likewise, tag 2 */
} vg_status;

int vg_status_encode(vg_wr *w, const vg_status *s);
/* Allocates; on success free with vg_status_free. On failure *s is left empty. */
int vg_status_decode(const uint8_t *p, size_t n, vg_status *s);
void vg_status_free(vg_status *s);

#endif
