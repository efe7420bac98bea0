/*
 * CONTEXT_LOCAL_STORAGE_INTERFACE_V0301: a (context, key) -> value map with a destructor per
 * entry. Each cudart instance in the process (the application's, and the static copies inside
 * libraries such as cuBLAS) keeps its per-context state here under its own key, and calls `get`
 * before almost every runtime call, so it is answered locally under one short lock.
 *
 * The destructors are how cudart learns that a context's state is gone (cudaDeviceReset, context
 * destroy): without them it would keep using stale per-context state. They run outside the lock,
 * so a destructor may call back into the table.
 */
#include "vgcuda.h"

#include "ctxstack.h"
#include "darkapi.h"
#include "handles.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct cls_entry {
  void *ctx, *key, *value;
  vg_cls_dtor dtor;
} cls_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static cls_entry *g_ent; /* in put order */
static size_t g_n, g_cap;

/* A fork while another thread holds the lock would leave the child's copy locked forever. */
static void fork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void fork_release(void) { pthread_mutex_unlock(&g_lock); }
static void register_atfork(void) { (void)pthread_atfork(fork_prepare, fork_release, fork_release); }

/* NULL and (CUcontext)-1 both name the calling thread's current context. */
static int resolve(void **ctx) {
  void *c = *ctx;
  if (c == NULL || c == (void *)(intptr_t)-1) c = vg_ctx_current();
  if (!c || vg_handle_get(c, VG_H_CONTEXT, NULL, NULL) != 0) return CUDA_ERROR_INVALID_CONTEXT;
  *ctx = c;
  return CUDA_SUCCESS;
}

static cls_entry *find(void *ctx, void *key) {
  for (size_t i = 0; i < g_n; i++)
    if (g_ent[i].ctx == ctx && g_ent[i].key == key) return &g_ent[i];
  return NULL;
}

int vg_cls_put(void *ctx, void *key, void *value, vg_cls_dtor dtor) {
  int r = resolve(&ctx);
  if (r) return r;
  pthread_once(&g_once, register_atfork);
  pthread_mutex_lock(&g_lock);
  cls_entry *e = find(ctx, key);
  if (e) {
    /* Replacing a value does not destroy the old one: the caller owns it and just told us so. */
    e->value = value;
    e->dtor = dtor;
  } else if (g_n == g_cap && g_cap >= SIZE_MAX / 2 / sizeof *g_ent) {
    r = CUDA_ERROR_OUT_OF_MEMORY;
  } else {
    if (g_n == g_cap) {
      size_t cap = g_cap ? g_cap * 2 : 16;
      cls_entry *p = realloc(g_ent, cap * sizeof *p);
      if (!p) r = CUDA_ERROR_OUT_OF_MEMORY;
      else g_ent = p, g_cap = cap;
    }
    if (!r) g_ent[g_n++] = (cls_entry){ctx, key, value, dtor};
  }
  pthread_mutex_unlock(&g_lock);
  return r;
}

int vg_cls_delete(void *ctx, void *key) {
  int r = resolve(&ctx);
  if (r) return r;
  pthread_mutex_lock(&g_lock);
  cls_entry *e = find(ctx, key);
  if (!e) {
    r = CUDA_ERROR_INVALID_HANDLE;
  } else {
    size_t i = (size_t)(e - g_ent);
    for (; i + 1 < g_n; i++) g_ent[i] = g_ent[i + 1]; /* keeps put order for the destructors */
    g_n--;
  }
  pthread_mutex_unlock(&g_lock);
  return r;
}

/* A missing key is an error, not an empty success: cudart asks on every new thread and after a
 * reset, and an error is what makes it (re)build its per-context state. */
int vg_cls_get(void **value, void *ctx, void *key) {
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  int r = resolve(&ctx);
  if (r) return r;
  pthread_mutex_lock(&g_lock);
  cls_entry *e = find(ctx, key);
  if (e) *value = e->value;
  else r = CUDA_ERROR_INVALID_HANDLE;
  pthread_mutex_unlock(&g_lock);
  return r;
}

void vg_cls_context_gone(void *ctx) {
  pthread_mutex_lock(&g_lock);
  size_t n = 0;
  for (size_t i = 0; i < g_n; i++) n += g_ent[i].ctx == ctx;
  cls_entry *gone = n ? malloc(n * sizeof *gone) : NULL;
  size_t k = 0, w = 0;
  for (size_t i = 0; i < g_n; i++) {
    if (g_ent[i].ctx != ctx) g_ent[w++] = g_ent[i];
    else if (gone) gone[k++] = g_ent[i];
  }
  /* Without memory for the list the entries are still dropped: stale state is worse than a
   * destructor that did not run. */
  g_n = w;
  pthread_mutex_unlock(&g_lock);
  if (n && !gone) vg_log(VG_LOG_WARN, "context storage: out of memory; %zu destructors not run", n);
  while (k--)
    if (gone[k].dtor) gone[k].dtor(gone[k].ctx, gone[k].key, gone[k].value);
  free(gone);
}

/* ---- the table ---- */

static CUresult cls_put(CUcontext ctx, void *key, void *value, vg_cls_dtor dtor) {
  VG_TRACED((CUresult)vg_cls_put(ctx, key, value, dtor));
}
static CUresult cls_delete(CUcontext ctx, void *key) { VG_TRACED((CUresult)vg_cls_delete(ctx, key)); }
static CUresult cls_get(void **value, CUcontext ctx, void *key) {
  VG_TRACED((CUresult)vg_cls_get(value, ctx, key));
}

static const vg_dark_slot cls_slots[] = {
    {0, "put", (vg_dark_fn)cls_put},
    {1, "delete", (vg_dark_fn)cls_delete},
    {2, "get", (vg_dark_fn)cls_get},
};

const vg_dark_desc vg_dark_cls_desc = {
    .name = "CONTEXT_LOCAL_STORAGE_INTERFACE_V0301",
    .id = {0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93},
    .size_slot = 0, /* slot 0 is already `put` */
    .nslots = 4,
    .known = cls_slots,
    .nknown = sizeof cls_slots / sizeof cls_slots[0],
};
