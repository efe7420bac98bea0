/*
 * Loaded code, shared by module.c (loading, lookup, attributes) and launch.c.
 *
 * A CUmodule and a CUlibrary both wrap one sg_module; a library's module belongs to no context
 * (libraries are context-independent), a module's to the context that loaded it. Every kernel of
 * a module gets one sg_func at load time, and that object is the handle for both CUfunction and
 * CUkernel, so a CUkernel passed where a CUfunction is expected simply works.
 */
#ifndef SG_MODULE_H
#define SG_MODULE_H

#include "../ptx/ptx.h"
#include "sg_api.h"

typedef struct sg_module sg_module;

typedef struct sg_func {
  sg_module *mod;
  sg_ptx_kernel *k;
  pthread_mutex_t lock; /* guards the settable attributes below */
  int max_dyn_shared;   /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
  int carveout;         /* CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT */
  CUfunc_cache cache_config;
} sg_func;

struct sg_module {
  sg_ctx *ctx; /* NULL for a library's module */
  void *library; /* the owning sg_library, if any */
  sg_ptx_module *pm;
  int nfunc;
  sg_func *funcs;
};

/* Live function (or kernel) handle whose context, if it has one, is alive: INVALID_HANDLE else. */
CUresult sg_func_lookup(CUfunction h, sg_func **out);
/* Blocks of `block` threads using `dyn` bytes of dynamic shared memory that one multiprocessor
 * holds at once (the occupancy calculation, function.c); 0 when such a block cannot run. */
int sg_func_blocks_per_sm(sg_func *f, int block, size_t dyn);

/* Maps an engine status to the CUresult the driver API reports. */
CUresult sg_ptx_status_to_cu(sg_ptx_status st);

/* Per-thread message for the last module-load or launch failure (diag.c). */
void sg_diag_set(const char *msg);

/* Abandoning the process's kernel work (cancel.c): the flag every launch carries, the clock it
 * is timed by, and the record of a launch that came back SG_PTX_ERR_CANCELLED. */
sg_ptx_cancel *sg_cancel_state(void);
uint64_t sg_cancel_clock(void);
void sg_cancel_abandoned(uint64_t started);

#endif
