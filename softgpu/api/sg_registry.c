/*
 * The handle registry (see sg_api.h): an open-addressing hash table keyed by (pointer, type),
 * behind one mutex. Lookups happen once per API call, far from any hot loop, so a lock is fine.
 */
#include "sg_api.h"

#include <stdlib.h>

typedef struct entry {
  const void *key; /* NULL: empty slot */
  sg_obj_type type;
  int dead; /* tombstone left by a removal, so probe chains stay intact */
  void *owner;
  uint64_t value;
} entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static entry *g_tab;
static size_t g_cap;  /* power of two */
static size_t g_used; /* live entries plus tombstones */
static size_t g_live;

static size_t hash(const void *key, sg_obj_type type) {
  uint64_t x = (uint64_t)(uintptr_t)key ^ ((uint64_t)type << 56);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x;
}

/* Slot holding (key, type), or the slot where it would be inserted (first tombstone or empty). */
static entry *probe(const void *key, sg_obj_type type, int *found) {
  size_t mask = g_cap - 1;
  entry *reuse = NULL;
  for (size_t i = hash(key, type) & mask;; i = (i + 1) & mask) {
    entry *e = &g_tab[i];
    if (!e->key) {
      *found = 0;
      return reuse ? reuse : e;
    }
    if (e->dead) {
      if (!reuse) reuse = e;
    } else if (e->key == key && e->type == type) {
      *found = 1;
      return e;
    }
  }
}

static int grow(void) {
  /* Mostly tombstones: rehash at the same size rather than growing without bound. */
  size_t cap = !g_cap ? 256 : g_live * 4 < g_cap ? g_cap : g_cap * 2;
  entry *old = g_tab;
  size_t old_cap = g_cap;
  entry *tab = calloc(cap, sizeof *tab);
  if (!tab) return -1;
  g_tab = tab;
  g_cap = cap;
  g_used = 0;
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i].key || old[i].dead) continue;
    int found;
    *probe(old[i].key, old[i].type, &found) = old[i];
    g_used++;
  }
  free(old);
  return 0;
}

int sg_reg_add(const void *key, sg_obj_type type, void *owner, uint64_t value) {
  if (!key) return -1;
  pthread_mutex_lock(&g_lock);
  int rc = -1;
  if ((g_used + 1) * 2 > g_cap && grow() != 0) goto out;
  int found;
  entry *e = probe(key, type, &found);
  if (found) goto out;
  if (!e->dead) g_used++;
  g_live++;
  *e = (entry){key, type, 0, owner, value};
  rc = 0;
out:
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int sg_reg_find(const void *key, sg_obj_type type, void **owner, uint64_t *value) {
  if (!key) return 0;
  pthread_mutex_lock(&g_lock);
  int found = 0;
  if (g_cap) {
    entry *e = probe(key, type, &found);
    if (found) {
      if (owner) *owner = e->owner;
      if (value) *value = e->value;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return found;
}

int sg_reg_remove(const void *key, sg_obj_type type) {
  if (!key) return 0;
  pthread_mutex_lock(&g_lock);
  int found = 0;
  if (g_cap) {
    entry *e = probe(key, type, &found);
    if (found) {
      e->dead = 1;
      g_live--;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return found;
}

int sg_reg_search(sg_obj_type type, int (*match)(const void *key, uint64_t value, void *arg), void *arg,
                  const void **key, uint64_t *value) {
  int found = 0;
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_cap && !found; i++) {
    entry *e = &g_tab[i];
    if (e->key && !e->dead && e->type == type && match(e->key, e->value, arg)) {
      *key = e->key;
      *value = e->value;
      found = 1;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return found;
}

void **sg_reg_take_owned(const void *owner, sg_obj_type type, size_t *n) {
  *n = 0;
  pthread_mutex_lock(&g_lock);
  size_t count = 0;
  for (size_t i = 0; i < g_cap; i++)
    if (g_tab[i].key && !g_tab[i].dead && g_tab[i].type == type && g_tab[i].owner == owner) count++;
  void **keys = count ? malloc(count * sizeof *keys) : NULL;
  if (keys) {
    for (size_t i = 0; i < g_cap; i++) {
      entry *e = &g_tab[i];
      if (e->key && !e->dead && e->type == type && e->owner == owner) {
        keys[(*n)++] = (void *)e->key;
        e->dead = 1;
        g_live--;
      }
    }
  }
  pthread_mutex_unlock(&g_lock);
  return keys;
}
