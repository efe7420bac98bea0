/*
 * Tagged handle table (handles.h). Slots are reused with a bumped generation so a stale handle
 * never aliases a new object; a slot whose 24-bit generation is exhausted is retired for good.
 * A hash index maps remote ids back to handles for outputs that name existing objects.
 */
#include "handles.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(void *) == 8, "handle values need 64-bit pointers");

#define GEN_MAX 0xFFFFFFu
#define SLOT_MAX (1u << 24)
#define NO_SLOT UINT32_MAX

typedef struct slot {
  uint64_t rid;
  void *data;
  uint32_t gen;
  uint32_t next_free;
  uint8_t kind;
  uint8_t live;
} slot;

static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_INITIALIZER;
static slot *g_slots;
static uint32_t g_nslots, g_capslots;
static uint32_t g_free = NO_SLOT;
/* Open addressing, linear probing, keyed by rid (never 0); values are slot indices. */
static uint64_t *g_hkeys;
static uint32_t *g_hvals;
static uint32_t g_hcap, g_hcount;

static uint64_t hval(uintptr_t idx, uint32_t gen, vg_hkind kind) {
  return ((uint64_t)kind << 56) | ((uint64_t)gen << 32) | idx;
}

static uint32_t hash_rid(uint64_t rid, uint32_t cap) {
  rid ^= rid >> 33;
  rid *= 0xff51afd7ed558ccdull;
  rid ^= rid >> 33;
  return (uint32_t)(rid & (cap - 1));
}

static int hash_grow(void) {
  uint32_t ncap = g_hcap ? g_hcap * 2 : 64;
  uint64_t *nk = calloc(ncap, sizeof *nk);
  uint32_t *nv = calloc(ncap, sizeof *nv);
  if (!nk || !nv) {
    free(nk);
    free(nv);
    return -1;
  }
  for (uint32_t i = 0; i < g_hcap; i++) {
    if (!g_hkeys[i]) continue;
    uint32_t j = hash_rid(g_hkeys[i], ncap);
    while (nk[j]) j = (j + 1) & (ncap - 1);
    nk[j] = g_hkeys[i];
    nv[j] = g_hvals[i];
  }
  free(g_hkeys);
  free(g_hvals);
  g_hkeys = nk;
  g_hvals = nv;
  g_hcap = ncap;
  return 0;
}

static int hash_put(uint64_t rid, uint32_t idx) {
  if (!rid) return 0;
  if ((g_hcount + 1) * 4 > g_hcap * 3 && hash_grow()) return -1;
  uint32_t j = hash_rid(rid, g_hcap);
  while (g_hkeys[j] && g_hkeys[j] != rid) j = (j + 1) & (g_hcap - 1);
  if (!g_hkeys[j]) g_hcount++;
  g_hkeys[j] = rid;
  g_hvals[j] = idx;
  return 0;
}

static int hash_find(uint64_t rid, uint32_t *idx) {
  if (!rid || !g_hcap) return -1;
  for (uint32_t j = hash_rid(rid, g_hcap); g_hkeys[j]; j = (j + 1) & (g_hcap - 1))
    if (g_hkeys[j] == rid) {
      *idx = g_hvals[j];
      return 0;
    }
  return -1;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void hash_del(uint64_t rid) {
  if (!rid || !g_hcap) return;
  uint32_t j = hash_rid(rid, g_hcap);
  while (g_hkeys[j] && g_hkeys[j] != rid) j = (j + 1) & (g_hcap - 1);
  if (!g_hkeys[j]) return;
  g_hkeys[j] = 0;
  g_hcount--;
  for (uint32_t k = (j + 1) & (g_hcap - 1); g_hkeys[k]; k = (k + 1) & (g_hcap - 1)) {
    uint32_t home = hash_rid(g_hkeys[k], g_hcap);
    /* Move k into the hole j if its home is not in the cyclic range (j, k]. */
    int in_range = j < k ? (home > j && home <= k) : (home > j || home <= k);
    if (!in_range) {
      g_hkeys[j] = g_hkeys[k];
      g_hvals[j] = g_hvals[k];
      g_hkeys[k] = 0;
      j = k;
    }
  }
}

/* Decodes h into a slot index if it names a live slot of `kind` (any kind if VG_H_NONE). */
static slot *lookup(const void *h, vg_hkind kind) {
  uint64_t v = (uint64_t)(uintptr_t)h;
  uint32_t idx = (uint32_t)v, gen = (uint32_t)(v >> 32) & GEN_MAX;
  vg_hkind k = (vg_hkind)(v >> 56);
  if (k == VG_H_NONE || k >= VG_H_KIND_COUNT || (kind != VG_H_NONE && k != kind)) return NULL;
  if (idx >= g_nslots) return NULL;
  slot *s = &g_slots[idx];
  if (!s->live || s->gen != gen || s->kind != k) return NULL;
  return s;
}

void *vg_handle_new(vg_hkind kind, uint64_t rid, void *data) {
  if (kind <= VG_H_NONE || kind >= VG_H_KIND_COUNT) return NULL;
  pthread_rwlock_wrlock(&g_lock);
  uint32_t idx;
  if (g_free != NO_SLOT) {
    idx = g_free;
    g_free = g_slots[idx].next_free;
  } else {
    if (g_nslots == g_capslots) {
      uint32_t ncap = g_capslots ? g_capslots * 2 : 64;
      slot *ns = ncap <= SLOT_MAX ? realloc(g_slots, ncap * sizeof *ns) : NULL;
      if (!ns) {
        pthread_rwlock_unlock(&g_lock);
        return NULL;
      }
      g_slots = ns;
      g_capslots = ncap;
    }
    idx = g_nslots++;
    g_slots[idx].gen = 1;
  }
  slot *s = &g_slots[idx];
  if (hash_put(rid, idx)) {
    s->live = 0;
    s->next_free = g_free;
    g_free = idx;
    pthread_rwlock_unlock(&g_lock);
    return NULL;
  }
  s->rid = rid;
  s->data = data;
  s->kind = (uint8_t)kind;
  s->live = 1;
  s->next_free = NO_SLOT;
  void *h = (void *)(uintptr_t)hval(idx, s->gen, kind);
  pthread_rwlock_unlock(&g_lock);
  return h;
}

int vg_handle_get(const void *h, vg_hkind kind, uint64_t *rid, void **data) {
  pthread_rwlock_rdlock(&g_lock);
  slot *s = lookup(h, kind);
  if (s) {
    if (rid) *rid = s->rid;
    if (data) *data = s->data;
  }
  pthread_rwlock_unlock(&g_lock);
  return s ? 0 : -1;
}

vg_hkind vg_handle_kind(const void *h) {
  pthread_rwlock_rdlock(&g_lock);
  slot *s = lookup(h, VG_H_NONE);
  vg_hkind k = s ? (vg_hkind)s->kind : VG_H_NONE;
  pthread_rwlock_unlock(&g_lock);
  return k;
}

static void *release_slot(slot *s) {
  uint32_t idx = (uint32_t)(s - g_slots);
  void *data = s->data;
  hash_del(s->rid);
  s->live = 0;
  s->rid = 0;
  s->data = NULL;
  if (s->gen < GEN_MAX) {
    s->gen++;
    s->next_free = g_free;
    g_free = idx;
  }
  return data;
}

void *vg_handle_release(const void *h) {
  pthread_rwlock_wrlock(&g_lock);
  slot *s = lookup(h, VG_H_NONE);
  void *data = s ? release_slot(s) : NULL;
  pthread_rwlock_unlock(&g_lock);
  return data;
}

int vg_handle_set_rid(const void *h, vg_hkind kind, uint64_t rid) {
  int r = -1;
  pthread_rwlock_wrlock(&g_lock);
  slot *s = lookup(h, kind);
  if (s) {
    uint32_t idx = (uint32_t)(s - g_slots);
    hash_del(s->rid);
    if (hash_put(rid, idx) == 0) {
      s->rid = rid;
      r = 0;
    } else {
      s->rid = 0;
    }
  }
  pthread_rwlock_unlock(&g_lock);
  return r;
}

void *vg_handle_find(vg_hkind kind, uint64_t rid) {
  void *h = NULL;
  uint32_t idx;
  pthread_rwlock_rdlock(&g_lock);
  if (hash_find(rid, &idx) == 0 && idx < g_nslots) {
    slot *s = &g_slots[idx];
    if (s->live && s->kind == kind) h = (void *)(uintptr_t)hval(idx, s->gen, kind);
  }
  pthread_rwlock_unlock(&g_lock);
  return h;
}

void vg_handle_fork_prepare(void) { pthread_rwlock_wrlock(&g_lock); }
void vg_handle_fork_parent(void) { pthread_rwlock_unlock(&g_lock); }

void vg_handle_fork_child(void) {
  /* Only this thread exists now and it holds the lock taken in prepare. The data of dropped
   * handles is leaked on purpose: its owners (streams, events) are the parent's objects. */
  for (uint32_t i = 0; i < g_nslots; i++) {
    slot *s = &g_slots[i];
    if (!s->live) continue;
    if (s->kind == VG_H_CONTEXT) {
      hash_del(s->rid);
      s->rid = 0;
    } else {
      release_slot(s);
    }
  }
  /* Not pthread_rwlock_unlock: glibc recognises the writer by thread id, the child's thread has a
   * new one, and the unlock would be taken for a reader's, leaving the lock unusable. The child
   * has a single thread, so a fresh lock is exactly the right state. */
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;
  g_lock = fresh;
}
