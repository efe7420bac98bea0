/*
 * The VGPU_LOG=debug call trace (log.h). Every traced call writes one line; cuGetProcAddress
 * lookups, which cudart makes by the hundred at start-up, are counted instead and summarised in one
 * line before the next other call, so the trace of a program shows its work rather than its loader.
 * Nothing here runs, and nothing is formatted, unless debug is on.
 */
#include "log.h"

#include <cuda.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "curesult.h"

/* ---- arguments ---- */

static void append(char *buf, uint16_t *len, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, uint16_t *len, size_t cap, const char *fmt, ...) {
  if (*len >= cap - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= cap - *len) {
    /* Truncated: end with "..." so a reader knows. */
    *len = (uint16_t)(cap - 1);
    memcpy(buf + cap - 4, "...", 4);
    return;
  }
  *len = (uint16_t)(*len + n);
}

static void format_size(char *out, size_t cap, uint64_t v) {
  static const char *units[] = {"GiB", "MiB", "KiB"};
  static const unsigned shifts[] = {30, 20, 10};
  for (int i = 0; i < 3; i++) {
    uint64_t unit = 1ull << shifts[i];
    if (v >= unit && v % unit == 0) {
      snprintf(out, cap, "%" PRIu64 " %s", v / unit, units[i]);
      return;
    }
  }
  snprintf(out, cap, "%" PRIu64 " B", v);
}

void vg_targ(vg_targs *t, int out, int kind, const char *name, uint64_t v) {
  char val[48];
  switch (kind) {
    case VG_TA_INT: snprintf(val, sizeof val, "%" PRId64, (int64_t)v); break;
    case VG_TA_HEX: snprintf(val, sizeof val, "0x%" PRIx64, v); break;
    case VG_TA_SIZE: format_size(val, sizeof val, v); break;
    case VG_TA_PTR:
      if (v) snprintf(val, sizeof val, "0x%" PRIx64, v);
      else memcpy(val, "NULL", 5);
      break;
    default: snprintf(val, sizeof val, "%" PRIu64, v); break;
  }
  t->has_args = 1;
  if (out) append(t->outs, &t->olen, sizeof t->outs, "%s%s=%s", t->olen ? ", " : "", name, val);
  else append(t->args, &t->alen, sizeof t->args, "%s%s=%s", t->alen ? ", " : "", name, val);
}

void vg_targ_f32(vg_targs *t, int out, const char *name, float v) {
  t->has_args = 1;
  if (out) append(t->outs, &t->olen, sizeof t->outs, "%s%s=%g", t->olen ? ", " : "", name, (double)v);
  else append(t->args, &t->alen, sizeof t->args, "%s%s=%g", t->alen ? ", " : "", name, (double)v);
}

static const char *result_name(int result, char *buf, size_t cap) {
  const char *s = NULL;
  if (vg_curesult_name((CUresult)result, &s) == CUDA_SUCCESS && s) return s;
  snprintf(buf, cap, "CUresult %d", result);
  return buf;
}

static __thread const char *tl_last_traced;

void vg_trace_nested_begin(void) { tl_last_traced = NULL; }

int vg_trace_nested_end(const char *name) { return tl_last_traced && !strcmp(tl_last_traced, name); }

void vg_trace_call(const char *name, int result, uint64_t t_start_ns, const vg_targs *t) {
  uint64_t us = (vg_now_ns() - t_start_ns) / 1000;
  tl_last_traced = name;
  vg_trace_flush();
  char rb[32];
  const char *rn = result_name(result, rb, sizeof rb);
  if (t && t->has_args)
    vg_log(VG_LOG_DEBUG, "%s(%.*s) -> %s%s%.*s%s %" PRIu64 " \xc2\xb5s", name, (int)t->alen, t->args, rn,
           t->olen ? " {" : "", (int)t->olen, t->outs, t->olen ? "}" : "", us);
  else
    vg_log(VG_LOG_DEBUG, "%s -> %s %" PRIu64 " \xc2\xb5s", name, rn, us);
}

/* ---- cuGetProcAddress summary ---- */

#define LK_SLOTS 512 /* distinct symbols counted individually; more are counted in total only */
#define LK_NAME 48
#define LK_LIST 8 /* names listed per category in the summary */

struct lk_entry {
  uint64_t hash; /* 0: free */
  uint32_t count;
  int status;
  char name[LK_NAME];
};

static pthread_mutex_t g_lk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_lk_atfork = PTHREAD_ONCE_INIT;
static uint32_t g_lk_total, g_lk_distinct, g_lk_untracked;
static uint64_t g_lk_ns;
static struct lk_entry g_lk[LK_SLOTS];

static void lk_clear(void) {
  if (g_lk_total) memset(g_lk, 0, sizeof g_lk);
  __atomic_store_n(&g_lk_total, 0, __ATOMIC_RELAXED);
  g_lk_distinct = g_lk_untracked = 0;
  g_lk_ns = 0;
}

/* The child of a fork does not print the parent's pending lookups (the parent will). */
static void lk_prepare(void) { pthread_mutex_lock(&g_lk_lock); }
static void lk_parent(void) { pthread_mutex_unlock(&g_lk_lock); }
static void lk_child(void) {
  lk_clear();
  pthread_mutex_unlock(&g_lk_lock);
}
static void lk_register_atfork(void) { (void)pthread_atfork(lk_prepare, lk_parent, lk_child); }

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h ? h : 1;
}

static const char *lookup_status_name(int status) {
  switch (status) {
    case 0: return "found";
    case 1: return "not found";
    case 2: return "version not sufficient";
    default: return "invalid";
  }
}

void vg_trace_lookup(const char *fn, const char *symbol, int cuda_version, uint64_t flags, int status, int result,
                     uint64_t t_start_ns) {
  uint64_t ns = vg_now_ns() - t_start_ns;
  if (vg_log_enabled(VG_LOG_TRACE)) {
    char rb[32];
    vg_log(VG_LOG_TRACE, "%s(symbol=%s, cudaVersion=%d, flags=0x%" PRIx64 ") -> %s (%s) %" PRIu64 " \xc2\xb5s", fn,
           symbol ? symbol : "NULL", cuda_version, flags, result_name(result, rb, sizeof rb), lookup_status_name(status),
           ns / 1000);
    return;
  }
  pthread_once(&g_lk_atfork, lk_register_atfork);
  const char *sym = symbol ? symbol : "(NULL)";
  uint64_t h = fnv1a(sym);
  pthread_mutex_lock(&g_lk_lock);
  __atomic_store_n(&g_lk_total, g_lk_total + 1, __ATOMIC_RELAXED);
  g_lk_ns += ns;
  struct lk_entry *e = NULL;
  for (uint32_t i = 0; i < LK_SLOTS; i++) {
    struct lk_entry *s = &g_lk[(h + i) % LK_SLOTS];
    if (s->hash == h && !strncmp(s->name, sym, LK_NAME - 1)) {
      e = s;
      break;
    }
    if (!s->hash) {
      e = s;
      e->hash = h;
      snprintf(e->name, sizeof e->name, "%s", sym);
      g_lk_distinct++;
      break;
    }
  }
  if (e) {
    e->count++;
    e->status = status;
  } else {
    g_lk_untracked++;
  }
  pthread_mutex_unlock(&g_lk_lock);
}

/* Appends up to LK_LIST names of entries with status `status` (or, for status -1, of entries looked
 * up more than once, with their counts) to buf. */
static void list_names(char *buf, uint16_t *len, size_t cap, int status) {
  uint32_t shown = 0, more = 0;
  for (uint32_t i = 0; i < LK_SLOTS; i++) {
    const struct lk_entry *e = &g_lk[i];
    if (!e->hash) continue;
    int pick = status < 0 ? e->count > 1 : e->status == status;
    if (!pick) continue;
    if (shown == LK_LIST) {
      more++;
      continue;
    }
    if (status < 0) append(buf, len, cap, "%s%s x%" PRIu32, shown ? ", " : "", e->name, e->count);
    else append(buf, len, cap, "%s%s", shown ? ", " : "", e->name);
    shown++;
  }
  if (more) append(buf, len, cap, ", +%" PRIu32 " more", more);
}

void vg_trace_flush(void) {
  if (!__atomic_load_n(&g_lk_total, __ATOMIC_RELAXED)) return;
  char line[900];
  uint16_t len = 0;
  pthread_mutex_lock(&g_lk_lock);
  if (!g_lk_total) {
    pthread_mutex_unlock(&g_lk_lock);
    return;
  }
  uint32_t by_status[4] = {0, 0, 0, 0}, repeated = 0;
  for (uint32_t i = 0; i < LK_SLOTS; i++) {
    if (!g_lk[i].hash) continue;
    by_status[g_lk[i].status & 3]++;
    if (g_lk[i].count > 1) repeated++;
  }
  append(line, &len, sizeof line, "cuGetProcAddress: %" PRIu32 " lookups of %" PRIu32 "%s symbols in %" PRIu64
         " \xc2\xb5s: %" PRIu32 " found", g_lk_total, g_lk_distinct, g_lk_untracked ? "+" : "", g_lk_ns / 1000,
         by_status[0]);
  static const int listed[] = {1, 2, 3};
  for (int k = 0; k < 3; k++) {
    int st = listed[k];
    if (!by_status[st]) continue;
    append(line, &len, sizeof line, ", %" PRIu32 " %s (", by_status[st], lookup_status_name(st));
    list_names(line, &len, sizeof line, st);
    append(line, &len, sizeof line, ")");
  }
  if (repeated) {
    append(line, &len, sizeof line, "; repeated: ");
    list_names(line, &len, sizeof line, -1);
  }
  lk_clear();
  pthread_mutex_unlock(&g_lk_lock);
  vg_log(VG_LOG_DEBUG, "%.*s", (int)len, line);
}

/* A program that ends right after its lookups still gets their summary. trylock: exit may come
 * from a thread while another holds the lock, or in a fork child that never took it. */
__attribute__((destructor)) static void flush_at_exit(void) {
  if (!__atomic_load_n(&g_lk_total, __ATOMIC_RELAXED)) return;
  if (pthread_mutex_trylock(&g_lk_lock)) return;
  pthread_mutex_unlock(&g_lk_lock);
  vg_trace_flush();
}
