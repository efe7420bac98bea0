/*
 * Block execution with Volta-style independent thread scheduling. Each thread runs alone until it
 * parks at a collective; when every thread of the block is parked or done, warp collectives
 * (shfl/vote/match/activemask) complete for the lanes waiting at the same instruction, and when
 * none is pending, block barriers complete once enough threads arrived. Divergence needs no
 * reconvergence analysis: a thread's whole state is its registers, frames and pc.
 *
 * sg_ptx_run spreads the blocks of a grid over the worker pool; each worker keeps one block
 * context (thread states, shared memory) for the whole launch. A launch given a cancel flag
 * (ptx.h) looks at it before each block and each thread slice, so an abandoned kernel stops
 * within a few thousand loop iterations of one thread, however long its blocks would run.
 * A cooperative launch keeps every block of the grid alive at once instead (run_coop).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "culimits.h"
#include "ptx_alu.h"

#define MAX_SHARED_BYTES (228u * 1024u)

static uint64_t *regs_of(sg_thread *t) { return t->regs + t->frames[t->nframes - 1].reg_base; }

/* Completes one warp collective for the n lanes parked at it. With independent thread scheduling
 * the compiler may duplicate a collective into both sides of a branch, so lanes of one shfl/vote/
 * match may sit at different pcs: each lane reads and writes through its own instruction. */
sg_ptx_status sg_exec_collective(sg_block_ctx *bc, sg_thread **lanes, int n) {
  const sg_insn *code = bc->mod->code;
  if (code[lanes[0]->pc].op == SG_OP_TENSOR) {
    /* .aligned matrix instructions need the whole warp: each lane holds part of every matrix. */
    sg_thread *bylane[32] = {0};
    for (int k = 0; k < n; k++) bylane[lanes[k]->lane] = lanes[k];
    for (int l = 0; l < 32; l++)
      if (!bylane[l])
        return sg_fail(bc, lanes[0], SG_PTX_ERR_LAUNCH,
                       "warp matrix instruction at line %u needs all 32 lanes of the warp; lane %d has exited or "
                       "is not in the block", code[lanes[0]->pc].line, l);
    sg_ptx_status st = sg_tensor_exec(bc, bylane);
    if (st != SG_PTX_OK) return st;
    for (int k = 0; k < n; k++) {
      lanes[k]->pc++;
      lanes[k]->state = TS_RUN;
    }
    return SG_PTX_OK;
  }
  uint32_t group = 0;
  sg_thread *bylane[32] = {0};
  for (int k = 0; k < n; k++) {
    group |= 1u << lanes[k]->lane;
    bylane[lanes[k]->lane] = lanes[k];
  }
  uint64_t res[32], res2[32];
  for (int k = 0; k < n; k++) {
    sg_thread *t = lanes[k];
    const sg_insn *in = &code[t->pc];
    uint64_t *r = regs_of(t);
    uint32_t lane = t->lane;
    switch (in->op) {
    case SG_OP_SHFL: {
      uint32_t b = (uint32_t)r[in->b] & 31, c = (uint32_t)r[in->c];
      uint32_t clamp = c & 31, seg = (c >> 8) & 31;
      uint32_t maxl = (lane & seg) | (clamp & ~seg), minl = lane & seg;
      int32_t j;
      int pv;
      switch (in->mod) {
      case SH_UP: j = (int32_t)lane - (int32_t)b; pv = j >= (int32_t)maxl; break;
      case SH_DOWN: j = (int32_t)(lane + b); pv = j <= (int32_t)maxl; break;
      case SH_BFLY: j = (int32_t)(lane ^ b); pv = j <= (int32_t)maxl; break;
      default: j = (int32_t)(minl | (b & ~seg)); pv = j <= (int32_t)maxl; break;
      }
      if (!pv || j < 0 || j > 31 || !bylane[j]) j = (int32_t)lane; /* inactive source: undefined; own value */
      sg_thread *src = bylane[j];
      res[k] = (uint32_t)regs_of(src)[code[src->pc].a];
      res2[k] = (uint64_t)pv;
      break;
    }
    case SG_OP_VOTE: {
      uint32_t mask = (uint32_t)r[in->e] & group;
      uint32_t ballot = 0;
      for (int q = 0; q < n; q++) {
        sg_thread *o = lanes[q];
        const sg_insn *oi = &code[o->pc];
        if (!((mask >> o->lane) & 1)) continue;
        int pred = (int)(regs_of(o)[oi->a] & 1) ^ ((oi->flags & SG_F_HI) ? 1 : 0);
        if (pred) ballot |= 1u << o->lane;
      }
      switch (in->mod) {
      case VO_ALL: res[k] = ballot == mask; break;
      case VO_ANY: res[k] = ballot != 0; break;
      case VO_UNI: res[k] = ballot == 0 || ballot == mask; break;
      default: res[k] = ballot; break;
      }
      break;
    }
    case SG_OP_MATCH: {
      uint32_t mask = (uint32_t)r[in->e] & group;
      uint64_t wm = sg_type_size(in->t) >= 8 ? ~0ull : 0xffffffffull;
      uint64_t mine = r[in->a] & wm;
      uint32_t same = 0;
      int all = 1;
      for (int q = 0; q < n; q++) {
        sg_thread *o = lanes[q];
        if (!((mask >> o->lane) & 1)) continue;
        uint64_t v = regs_of(o)[code[o->pc].a] & wm;
        if (v == mine) same |= 1u << o->lane;
        else all = 0;
      }
      res[k] = in->mod == 1 ? same : (all ? mask : 0);
      res2[k] = (uint64_t)all;
      break;
    }
    case SG_OP_REDUX: {
      uint32_t mask = (uint32_t)r[in->e] & group;
      int sgn = sg_type_is_signed(in->t);
      uint32_t acc = 0;
      int first = 1;
      for (int q = 0; q < n; q++) {
        sg_thread *o = lanes[q];
        if (!((mask >> o->lane) & 1)) continue;
        uint32_t v = (uint32_t)regs_of(o)[code[o->pc].a];
        if (first) { acc = v; first = 0; continue; }
        switch (in->mod) {
        case AT_ADD: acc += v; break;
        case AT_MIN: acc = sgn ? ((int32_t)v < (int32_t)acc ? v : acc) : (v < acc ? v : acc); break;
        case AT_MAX: acc = sgn ? ((int32_t)v > (int32_t)acc ? v : acc) : (v > acc ? v : acc); break;
        case AT_AND: acc &= v; break;
        case AT_OR: acc |= v; break;
        default: acc ^= v; break;
        }
      }
      res[k] = acc;
      break;
    }
    case SG_OP_WARPSYNC:
      res[k] = 0;
      break;
    default: /* activemask */
      res[k] = group;
      break;
    }
  }
  for (int k = 0; k < n; k++) {
    const sg_insn *in = &code[lanes[k]->pc];
    uint64_t *r = regs_of(lanes[k]);
    if (in->d != SG_NO_SLOT) r[in->d] = res[k];
    if (in->d2 != SG_NO_SLOT) r[in->d2] = res2[k];
    lanes[k]->pc++;
    lanes[k]->state = TS_RUN;
  }
  return SG_PTX_OK;
}

/* Lanes of one collective: activemask groups by pc (it reports who is converged there); the
 * .sync collectives group by operation, wherever each lane reached it. */
static int same_collective(const sg_insn *code, const sg_thread *a, const sg_thread *b) {
  const sg_insn *x = &code[a->pc], *y = &code[b->pc];
  if (x->op == SG_OP_ACTIVEMASK || y->op == SG_OP_ACTIVEMASK || x->op == SG_OP_TENSOR || y->op == SG_OP_TENSOR)
    return a->pc == b->pc;
  return x->op == y->op && x->mod == y->mod && x->t == y->t;
}

/* A .sync collective completes only once every live lane its member mask names has arrived.
 * Returns 1 when some collective completed, 0 when none could, -1 on an error (in bc). */
static int resolve_warps(sg_block_ctx *bc) {
  int progress = 0;
  const sg_insn *code = bc->mod->code;
  for (uint32_t w = 0; w < bc->nwarps; w++) {
    sg_thread *lanes[32];
    uint32_t base = w * 32, end = base + 32 < bc->nthreads ? base + 32 : bc->nthreads;
    uint32_t live = 0, seen = 0;
    for (uint32_t i = base; i < end; i++)
      if (bc->thr[i].state != TS_EXIT) live |= 1u << (i - base);
    for (;;) {
      int n = 0;
      uint32_t group = 0;
      for (uint32_t i = base; i < end; i++) {
        sg_thread *t = &bc->thr[i];
        if (t->state != TS_WARP || ((seen >> t->lane) & 1)) continue;
        if (n == 0 || same_collective(code, lanes[0], t)) {
          lanes[n++] = t;
          group |= 1u << t->lane;
        }
      }
      if (n == 0) break;
      seen |= group;
      /* Each lane goes once every live lane of its own mask is here (tiles of one warp use
       * different masks at the same instruction); the others keep waiting. */
      int nready = 0;
      for (int k = 0; k < n; k++) {
        const sg_insn *in = &code[lanes[k]->pc];
        uint32_t need = in->op == SG_OP_ACTIVEMASK ? 0 : (uint32_t)regs_of(lanes[k])[in->e] & live;
        if ((group & need) == need) lanes[nready++] = lanes[k];
      }
      if (nready == 0) continue;
      if (sg_exec_collective(bc, lanes, nready) != SG_PTX_OK) return -1;
      progress = 1;
    }
  }
  return progress;
}

static int resolve_barriers(sg_block_ctx *bc, uint32_t *arrived) {
  uint32_t waiting[16] = {0}, need[16] = {0}, live = 0;
  for (uint32_t i = 0; i < bc->nthreads; i++) {
    sg_thread *t = &bc->thr[i];
    if (t->state != TS_EXIT) live++;
  }
  int progress = 0;
  for (uint32_t i = 0; i < bc->nthreads; i++) {
    sg_thread *t = &bc->thr[i];
    if (t->state != TS_BAR) continue;
    const sg_insn *in = &bc->mod->code[t->pc];
    uint64_t *r = regs_of(t);
    uint32_t id = (uint32_t)r[in->a] & 15;
    uint32_t cnt = in->b != SG_NO_SLOT ? (uint32_t)r[in->b] : 0;
    if (in->op == SG_OP_BAR_ARRIVE) { /* counts, never waits */
      arrived[id]++;
      t->pc++;
      t->state = TS_RUN;
      progress = 1;
      continue;
    }
    t->bar_id = (uint8_t)id;
    waiting[id]++;
    if (cnt) need[id] = cnt;
  }
  if (progress) return 1;
  for (uint32_t id = 0; id < 16; id++) {
    if (!waiting[id]) continue;
    uint32_t expect = need[id] ? need[id] : live;
    if (waiting[id] + arrived[id] < expect) continue;
    arrived[id] = 0;
    /* bar.red: the reduction over the predicates of the threads that reached it, for all of them. */
    uint32_t nred = 0, ntrue = 0;
    for (uint32_t i = 0; i < bc->nthreads; i++) {
      sg_thread *t = &bc->thr[i];
      const sg_insn *in = &bc->mod->code[t->pc];
      if (t->state != TS_BAR || t->bar_id != id || !in->mod) continue;
      nred++;
      ntrue += (uint32_t)(regs_of(t)[in->c] & 1) ^ ((in->flags & SG_F_HI) ? 1u : 0u);
    }
    for (uint32_t i = 0; i < bc->nthreads; i++) {
      sg_thread *t = &bc->thr[i];
      if (t->state != TS_BAR || t->bar_id != id) continue;
      const sg_insn *in = &bc->mod->code[t->pc];
      if (in->mod)
        regs_of(t)[in->d] = in->mod == BR_POPC ? ntrue : in->mod == BR_AND ? ntrue == nred : ntrue != 0;
      t->pc++;
      t->state = TS_RUN;
    }
    progress = 1;
  }
  return progress;
}

/* Starts every thread of the block at the kernel's entry. */
static sg_ptx_status block_begin(sg_block_ctx *bc) {
  const sg_ptx_launch *l = bc->launch;
  memset(bc->arrived, 0, sizeof bc->arrived);
  bc->done = 0;
  for (uint32_t i = 0; i < bc->nthreads; i++) {
    sg_thread *t = &bc->thr[i];
    t->tid[0] = i % l->block[0];
    t->tid[1] = (i / l->block[0]) % l->block[1];
    t->tid[2] = i / (l->block[0] * l->block[1]);
    t->linear = i;
    t->lane = i % 32;
    t->warp = i / 32;
    if (sg_thread_start(bc, t) != SG_PTX_OK) return bc->status;
  }
  return SG_PTX_OK;
}

/* Runs the block until it ends (bc->done) or fails; with `until_yield`, returns SG_PTX_OK early
 * after a round in which some thread yielded in a long loop, so that a cooperative grid's other
 * blocks on this worker get to run. */
static sg_ptx_status block_run(sg_block_ctx *bc, int until_yield) {
  uint32_t *arrived = bc->arrived;
  for (;;) {
    int live = 0, yielded = 0;
    for (uint32_t i = 0; i < bc->nthreads; i++) {
      sg_thread *t = &bc->thr[i];
      if (t->state == TS_RUN && sg_cancelled(bc->launch))
        return sg_fail(bc, t, SG_PTX_ERR_CANCELLED, "abandoned: the host cancelled this process's kernel work");
      if (t->state == TS_RUN && sg_exec_thread(bc, t) != SG_PTX_OK) return bc->status;
      live += t->state != TS_EXIT;
      yielded |= t->state == TS_RUN; /* still running: it yielded in a long loop or a sleep */
    }
    if (!live) {
      bc->done = 1;
      return SG_PTX_OK;
    }
    if (yielded) { /* no deadlock check while someone can still run */
      if (resolve_warps(bc) < 0) return bc->status;
      resolve_barriers(bc, arrived);
      if (until_yield) return SG_PTX_OK;
      continue;
    }
    int w = resolve_warps(bc);
    if (w < 0) return bc->status;
    if (w) continue;
    if (resolve_barriers(bc, arrived)) continue;
    for (uint32_t i = 0; i < bc->nthreads; i++)
      if (bc->thr[i].state == TS_BAR)
        return sg_fail(bc, &bc->thr[i], SG_PTX_ERR_LAUNCH,
                       "deadlock: barrier at line %u can never complete (threads exited or wait elsewhere)",
                       bc->mod->code[bc->thr[i].pc].line);
    return sg_fail(bc, NULL, SG_PTX_ERR_LAUNCH, "deadlock: no thread can make progress");
  }
}

/* ---- grid ------------------------------------------------------------------------------------- */
typedef struct job {
  sg_ptx_kernel *k;
  const sg_ptx_launch *l;
  sg_block_ctx *ctx; /* one per worker */
  uint32_t nthreads, shared_size;
  uint64_t nslots; /* cooperative launch: how many workers share out its blocks */
  volatile int stop;
  pthread_mutex_t mu;
  sg_ptx_status status;
  char *err;
  size_t errlen;
} job;

static void free_ctx(sg_block_ctx *bc) {
  if (!bc->thr) return;
  for (uint32_t i = 0; i < bc->nthreads; i++) {
    free(bc->thr[i].regs);
    free(bc->thr[i].local);
    free(bc->thr[i].frames);
  }
  free(bc->thr);
  free(bc->shared);
  free(bc->err);
}

/* Ends the launch with `st` (the first failure wins) and stops handing out blocks. */
static void job_fail(job *j, sg_ptx_status st, const char *msg) {
  pthread_mutex_lock(&j->mu);
  if (j->status == SG_PTX_OK) {
    j->status = st;
    if (j->err && j->errlen) {
      strncpy(j->err, msg, j->errlen - 1);
      j->err[j->errlen - 1] = 0;
    }
  }
  __atomic_store_n(&j->stop, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&j->mu);
}

/* Allocates a block context for the job's blocks; 0 after recording a failure. */
static int ctx_init(job *j, sg_block_ctx *bc) {
  bc->mod = j->k->mod;
  bc->entry = j->k->fn;
  bc->launch = j->l;
  bc->mem_base = sg_mem_arena_base();
  bc->mem_size = sg_mem_arena_size();
  bc->nthreads = j->nthreads;
  bc->nwarps = (j->nthreads + 31) / 32;
  bc->coop = j->l->grid_workspace != 0;
  bc->thr = calloc(j->nthreads, sizeof *bc->thr);
  bc->shared_size = j->shared_size;
  bc->shared = calloc(1, j->shared_size + 16);
  bc->errlen = 512;
  bc->err = calloc(1, bc->errlen);
  if (!bc->thr || !bc->shared || !bc->err) {
    job_fail(j, SG_PTX_ERR_NOMEM, "out of host memory for a block");
    free_ctx(bc);
    memset(bc, 0, sizeof *bc);
    return 0;
  }
  return 1;
}

static void set_ctaid(sg_block_ctx *bc, const sg_ptx_launch *l, uint64_t item) {
  bc->ctaid[0] = (uint32_t)(item % l->grid[0]);
  bc->ctaid[1] = (uint32_t)((item / l->grid[0]) % l->grid[1]);
  bc->ctaid[2] = (uint32_t)(item / ((uint64_t)l->grid[0] * l->grid[1]));
  bc->status = SG_PTX_OK;
  bc->err[0] = 0;
}

static void run_one(void *arg, int worker, uint64_t item) {
  job *j = arg;
  sg_block_ctx *bc = &j->ctx[worker];
  if (sg_cancelled(j->l)) {
    job_fail(j, SG_PTX_ERR_CANCELLED, "launch abandoned between blocks: the host cancelled this process's kernel work");
    return;
  }
  if (!bc->thr && !ctx_init(j, bc)) return;
  const sg_ptx_launch *l = j->l;
  set_ctaid(bc, l, item);
  if (block_begin(bc) != SG_PTX_OK || block_run(bc, 0) != SG_PTX_OK) job_fail(j, bc->status, bc->err);
  else if (sg_cancelled(l)) __atomic_add_fetch(&l->cancel->blocks_after, 1, __ATOMIC_RELAXED);
}

/*
 * A cooperative grid: every block must be resident at once, since grid.sync() spins until all
 * blocks arrived. Item `slot` of `nslots` (one per worker at most) owns the blocks
 * slot, slot + nslots, ... and runs them round-robin, switching whenever a block's threads yield
 * (a spin loop yields after COOP_SPIN backward branches). Blocks of other slots run at the same
 * time on other workers, so a grid sync completes whatever the number of workers, one included.
 */
static void run_coop(void *arg, int worker, uint64_t slot) {
  (void)worker;
  job *j = arg;
  const sg_ptx_launch *l = j->l;
  uint64_t nblocks = (uint64_t)l->grid[0] * l->grid[1] * l->grid[2];
  uint64_t mine = (nblocks - slot + j->nslots - 1) / j->nslots;
  sg_block_ctx *bcs = calloc(mine, sizeof *bcs);
  if (!bcs) {
    job_fail(j, SG_PTX_ERR_NOMEM, "out of host memory for a cooperative grid");
    return;
  }
  uint64_t ready = 0, left = mine;
  for (; ready < mine; ready++) {
    if (!ctx_init(j, &bcs[ready])) goto out;
    set_ctaid(&bcs[ready], l, slot + ready * j->nslots);
    if (block_begin(&bcs[ready]) != SG_PTX_OK) {
      job_fail(j, bcs[ready].status, bcs[ready].err);
      ready++;
      goto out;
    }
  }
  while (left) {
    for (uint64_t b = 0; b < mine; b++) {
      sg_block_ctx *bc = &bcs[b];
      if (bc->done) continue;
      if (__atomic_load_n(&j->stop, __ATOMIC_RELAXED)) goto out; /* another block failed */
      if (block_run(bc, 1) != SG_PTX_OK) {
        job_fail(j, bc->status, bc->err);
        goto out;
      }
      if (bc->done) left--;
    }
  }
out:
  for (uint64_t b = 0; b < ready; b++) free_ctx(&bcs[b]);
  free(bcs);
}

static sg_ptx_status launch_err(char *err, size_t errlen, sg_ptx_status st, const char *msg) {
  if (err && errlen) {
    strncpy(err, msg, errlen - 1);
    err[errlen - 1] = 0;
  }
  return st;
}

sg_ptx_status sg_ptx_run(sg_ptx_kernel *k, const sg_ptx_launch *l, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!k || !l) return launch_err(err, errlen, SG_PTX_ERR_LAUNCH, "NULL kernel or launch");
  const sg_func *f = k->fn;
  uint64_t nthreads = (uint64_t)l->block[0] * l->block[1] * l->block[2];
  uint64_t nblocks = (uint64_t)l->grid[0] * l->grid[1] * l->grid[2];
  if (!nthreads || !nblocks) return launch_err(err, errlen, SG_PTX_ERR_LAUNCH, "zero-sized grid or block");
  if (nthreads > VG_CU_MAX_THREADS_PER_BLOCK || l->block[2] > VG_CU_MAX_BLOCK_DIM_Z || l->grid[1] > VG_CU_MAX_GRID_DIM_Y ||
      l->grid[2] > VG_CU_MAX_GRID_DIM_Z)
    return launch_err(err, errlen, SG_PTX_ERR_LAUNCH, "block or grid dimensions exceed device limits");
  const uint32_t *lim = f->reqntid[0] ? f->reqntid : f->maxntid;
  if (lim[0] && nthreads > (uint64_t)lim[0] * lim[1] * lim[2])
    return launch_err(err, errlen, SG_PTX_ERR_OUT_OF_RESOURCES, "block larger than the kernel's .maxntid/.reqntid");
  if (f->reqntid[0] && (l->block[0] != f->reqntid[0] || l->block[1] != f->reqntid[1] || l->block[2] != f->reqntid[2]))
    return launch_err(err, errlen, SG_PTX_ERR_LAUNCH, "block shape differs from the kernel's .reqntid");
  if (l->params_size < f->param_bytes || (f->param_bytes && !l->params))
    return launch_err(err, errlen, SG_PTX_ERR_LAUNCH, "parameter buffer smaller than the kernel's parameters");
  /* The buffer spans the module's whole static layout; the limit applies to what this kernel uses. */
  uint64_t shared = (uint64_t)k->mod->dyn_base + l->dyn_shared_bytes;
  if ((uint64_t)f->shared_bytes + l->dyn_shared_bytes > MAX_SHARED_BYTES || shared > (1u << 30))
    return launch_err(err, errlen, SG_PTX_ERR_OUT_OF_RESOURCES, "shared memory per block exceeds the device limit");
  if (sg_cancelled(l))
    return launch_err(err, errlen, SG_PTX_ERR_CANCELLED, "launch abandoned: the host cancelled this process's kernel work");
  if (sg_mem_init() != 0) return launch_err(err, errlen, SG_PTX_ERR_NOMEM, "device memory unavailable");
  uint64_t ab = (uint64_t)(uintptr_t)sg_mem_arena_base(), as = sg_mem_arena_size();
  if (ab < SG_WIN_LOCAL + SG_WIN_SIZE && ab + as > SG_WIN_SHARED)
    return launch_err(err, errlen, SG_PTX_ERR_LAUNCH, "device arena overlaps the shared/local address windows");
  int nw = sg_pool_workers();
  job j;
  memset(&j, 0, sizeof j);
  j.k = k;
  j.l = l;
  j.nthreads = (uint32_t)nthreads;
  j.shared_size = (uint32_t)shared;
  j.err = err;
  j.errlen = errlen;
  j.ctx = calloc((size_t)nw, sizeof *j.ctx);
  if (!j.ctx) return launch_err(err, errlen, SG_PTX_ERR_NOMEM, "out of host memory");
  pthread_mutex_init(&j.mu, NULL);
  if (l->grid_workspace) {
    j.nslots = nblocks < (uint64_t)nw ? nblocks : (uint64_t)nw;
    sg_pool_run(run_coop, &j, j.nslots, &j.stop);
  } else {
    sg_pool_run(run_one, &j, nblocks, &j.stop);
  }
  for (int w = 0; w < nw; w++) free_ctx(&j.ctx[w]);
  free(j.ctx);
  pthread_mutex_destroy(&j.mu);
  return j.status;
}
