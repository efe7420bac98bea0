/*
 * The host's accounting of this VM (STATUS_REPLY, docs/protocol.md): utilization, memory in use
 * and the attached guest processes per vGPU, and the board values of the host's NVML when it
 * forwards them. One reply is kept for STATUS_TTL_MS, so the dozens
 * of queries one nvidia-smi run makes cost a single round trip, while a monitor polling once a
 * second always sees a fresh sample.
 */
#include "vgnvml.h"

#include "log.h"
#include "session.h"
#include "status.h"

#include <pthread.h>
#include <string.h>

#define STATUS_TTL_MS 150u

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static vg_status g_cache;
static int g_have;      /* g_cache holds a reply */
static uint64_t g_at;   /* when it was fetched (vg_now_ns) */
static int g_unavailable_logged;

/* Under g_lock: makes g_cache a reply at most STATUS_TTL_MS old, if the host gives one. */
static int refresh(void) {
  uint64_t now = vg_now_ns();
  if (g_have && now - g_at < (uint64_t)STATUS_TTL_MS * 1000000ull) return 0;
  vg_status fresh;
  int r = vg_session_status(&fresh);
  if (r == 0) {
    vg_status_free(&g_cache);
    g_cache = fresh;
    g_have = 1;
    g_at = now;
    return 0;
  }
  /* Older host (1) or lost session (-1, already logged by the session): the static answers. */
  if (r == 1)
    vg_log_once(&g_unavailable_logged, VG_LOG_INFO,
                "the vgpu host predates protocol minor 2: NVML reports no utilization, used memory or processes");
  vg_status_free(&g_cache);
  g_have = 0;
  return -1;
}

int vg_nvml_status(unsigned index, vg_nvml_devstat *out, vg_status_proc *procs, unsigned cap) {
  pthread_mutex_lock(&g_lock);
  int r = refresh();
  if (r == 0 && index >= g_cache.count) r = -1;
  if (r == 0) {
    const vg_status_dev *d = &g_cache.dev[index];
    memset(out, 0, sizeof *out);
    out->gpu_pct = d->gpu_pct;
    out->mem_pct = d->mem_pct;
    out->mem_used = d->mem_used;
    out->nproc = d->nproc;
    out->window_ms = g_cache.window_ms;
    if (procs && cap && d->nproc) memcpy(procs, d->proc, (size_t)(d->nproc < cap ? d->nproc : cap) * sizeof *procs);
  }
  pthread_mutex_unlock(&g_lock);
  return r;
}

int vg_nvml_board(unsigned index, vg_nvml_boardvals *out) {
  pthread_mutex_lock(&g_lock);
  int r = refresh();
  if (r == 0 && (index >= g_cache.count || !g_cache.board)) r = -1;
  if (r == 0) {
    const vg_status_board *b = &g_cache.board[index];
    for (unsigned k = 0; k < VG_BOARD_NVALS; k++) out->v[k] = VG_BOARD_UNKNOWN;
    out->v[VG_BOARD_TEMP] = b->temp_c;
    out->v[VG_BOARD_POWER] = b->power_mw;
    out->v[VG_BOARD_POWER_LIMIT] = b->power_limit_mw;
    out->v[VG_BOARD_SM] = b->sm_mhz;
    out->v[VG_BOARD_MEM] = b->mem_mhz;
    out->v[VG_BOARD_FAN] = b->fan_pct;
    if (g_cache.clocks) { /* a host may send tag 1 without tag 2 */
      const vg_status_clocks *c = &g_cache.clocks[index];
      out->v[VG_BOARD_GFX] = c->gfx_mhz;
      out->v[VG_BOARD_SM_MAX] = c->sm_max_mhz;
      out->v[VG_BOARD_MEM_MAX] = c->mem_max_mhz;
      out->v[VG_BOARD_GFX_MAX] = c->gfx_max_mhz;
      out->v[VG_BOARD_PSTATE] = c->pstate;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return r;
}
