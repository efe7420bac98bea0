/*
 * Per-thread context stack. The first few entries live in TLS; deeper stacks spill to the heap,
 * freed by a thread-exit destructor.
 */
#include "ctxstack.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INLINE_DEPTH 16

typedef struct ctxstack {
  void **v;
  size_t n, cap;
  void *inl[INLINE_DEPTH];
} ctxstack;

static __thread ctxstack t_stack;
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void free_heap(void *p) { free(p); }
static void make_key(void) { (void)pthread_key_create(&g_key, free_heap); }

static ctxstack *get(void) {
  ctxstack *s = &t_stack;
  if (!s->v) {
    s->v = s->inl;
    s->cap = INLINE_DEPTH;
  }
  return s;
}

void *vg_ctx_current(void) {
  ctxstack *s = get();
  return s->n ? s->v[s->n - 1] : NULL;
}

int vg_ctx_push(void *ctx) {
  ctxstack *s = get();
  if (s->n == s->cap) {
    size_t ncap = s->cap * 2;
    void **nv;
    if (s->v == s->inl) {
      nv = malloc(ncap * sizeof *nv);
      if (!nv) return -1;
      memcpy(nv, s->inl, s->n * sizeof *nv);
    } else {
      nv = realloc(s->v, ncap * sizeof *nv);
      if (!nv) return -1;
    }
    pthread_once(&g_key_once, make_key);
    pthread_setspecific(g_key, nv);
    s->v = nv;
    s->cap = ncap;
  }
  s->v[s->n++] = ctx;
  return 0;
}

int vg_ctx_pop(void **out) {
  ctxstack *s = get();
  if (!s->n) return -1;
  *out = s->v[--s->n];
  return 0;
}

int vg_ctx_set(void *ctx) {
  ctxstack *s = get();
  if (!ctx) {
    if (s->n) s->n--;
    return 0;
  }
  if (s->n) {
    s->v[s->n - 1] = ctx;
    return 0;
  }
  return vg_ctx_push(ctx);
}

void vg_ctx_forget(void *ctx) {
  ctxstack *s = get();
  size_t j = 0;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] != ctx) s->v[j++] = s->v[i];
  s->n = j;
}

size_t vg_ctx_depth(void) { return get()->n; }
