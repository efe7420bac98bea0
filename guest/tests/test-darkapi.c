/*
 * The export tables (guest/cuda/impl/export_table.c, darkapi*.c, integrity.c) as cudart sees
 * them: layout, refusal of unknown ids, the primary-context slot, context local storage with its
 * destructors, the integrity answer and the tools buffers. Against the fake host where a context
 * is needed.
 */
#include "vgcuda.h"

#include "darkapi.h"
#include "fakehost.h"
#include "vgtest.h"

#include <pthread.h>
#include <unistd.h>

static const CUuuid ID_CUDART = {{(char)0x6b, (char)0xd5, (char)0xfb, 0x6c, 0x5b, (char)0xf4, (char)0xe7, 0x4a,
                                  (char)0x89, (char)0x87, (char)0xd9, 0x39, 0x12, (char)0xfd, (char)0x9d, (char)0xf9}};
static const CUuuid ID_HOOKS = {{(char)0xa0, (char)0x94, 0x79, (char)0x8c, 0x2e, 0x74, 0x2e, 0x74, (char)0x93,
                                 (char)0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66}};
static const CUuuid ID_TOOLS_TLS = {{0x42, (char)0xd8, 0x5a, (char)0x81, 0x23, (char)0xf6, (char)0xcb, 0x47,
                                     (char)0x82, (char)0x98, (char)0xf6, (char)0xe7, (char)0x8a, 0x3a, (char)0xec, (char)0xdc}};
static const CUuuid ID_CLS = {{(char)0xc6, (char)0x93, 0x33, 0x6e, 0x11, 0x21, (char)0xdf, 0x11, (char)0xa8,
                               (char)0xc3, 0x68, (char)0xf3, 0x55, (char)0xd8, (char)0x95, (char)0x93}};
static const CUuuid ID_CHECKS = {{0x26, 0x3e, (char)0x88, 0x60, 0x7c, (char)0xd2, 0x61, 0x43, (char)0x92,
                                  (char)0xf6, (char)0xbb, (char)0xd5, 0x00, 0x6d, (char)0xfa, 0x7e}};
static const CUuuid ID_INTEGRITY = {{(char)0xd4, 0x08, 0x20, 0x55, (char)0xbd, (char)0xe6, 0x70, 0x4b,
                                     (char)0x8d, 0x34, (char)0xba, 0x12, 0x3c, 0x66, (char)0xe1, (char)0xf2}};
static const CUuuid ID_CTXINFO = {{0x21, 0x31, (char)0x8c, 0x60, (char)0x97, 0x14, 0x32, 0x48, (char)0x8c,
                                   (char)0xa6, 0x41, (char)0xff, 0x73, 0x24, (char)0xc8, (char)0xf2}};
static const CUuuid ID_RELAY12 = {{(char)0xf8, (char)0xcf, (char)0xf9, 0x51, 0x21, 0x46, (char)0x8b, 0x4e,
                                   (char)0xb9, (char)0xe2, (char)0xfb, 0x46, (char)0x9e, 0x7c, 0x0d, (char)0xd9}};

static void *const *table(const CUuuid *id) {
  const void *t = NULL;
  ASSERT_EQ(cuGetExportTable(&t, id), CUDA_SUCCESS);
  ASSERT_TRUE(t != NULL);
  return (void *const *)t;
}

typedef CUresult (*primary_fn)(CUcontext *, CUdevice);
typedef CUresult (*cls_put_fn)(CUcontext, void *, void *, vg_cls_dtor);
typedef CUresult (*cls_delete_fn)(CUcontext, void *);
typedef CUresult (*cls_get_fn)(void **, CUcontext, void *);
typedef CUresult (*integrity_fn)(uint32_t, uint64_t, uint64_t *);
typedef void (*hooks_fn)(void **, size_t *);
typedef CUresult (*check_fn)(CUcontext, uint32_t *, void **);
typedef CUresult (*ctxid_fn)(CUcontext, unsigned long long *);
typedef CUresult (*noarg_fn)(void);

TEST(darkapi_unknown_tables_refused) {
  CUuuid id;
  memset(&id, 0x5a, sizeof id);
  const void *t = (const void *)0x1234;
  ASSERT_EQ(cuGetExportTable(&t, &id), CUDA_ERROR_INVALID_VALUE);
  ASSERT_PTR_EQ(t, NULL);
  t = (const void *)0x1234;
  ASSERT_EQ(cuGetExportTable(&t, &ID_RELAY12), CUDA_ERROR_INVALID_VALUE); /* refused on purpose */
  ASSERT_PTR_EQ(t, NULL);
  /* One byte off a served id is another id. */
  id = ID_INTEGRITY;
  id.bytes[15] ^= 1;
  ASSERT_EQ(cuGetExportTable(&t, &id), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuGetExportTable(&t, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_PTR_EQ(t, NULL);
  ASSERT_EQ(cuGetExportTable(NULL, &ID_CUDART), CUDA_ERROR_INVALID_VALUE);
}

TEST(darkapi_table_layout) {
  /* Slot 0 is the size in bytes, except in the context storage table. */
  struct { const CUuuid *id; size_t slots; } sized[] = {
      {&ID_CUDART, 13}, {&ID_HOOKS, 7}, {&ID_TOOLS_TLS, 4}, {&ID_CHECKS, 4}, {&ID_INTEGRITY, 3}, {&ID_CTXINFO, 93}};
  for (size_t i = 0; i < sizeof sized / sizeof sized[0]; i++) {
    void *const *t = table(sized[i].id);
    ASSERT_EQ((uintptr_t)t[0], sized[i].slots * sizeof(void *));
    for (size_t s = 1; s < sized[i].slots; s++) ASSERT_TRUE(t[s] != NULL); /* never a NULL to jump to */
    ASSERT_PTR_EQ(table(sized[i].id), t); /* the same table every time */
  }
  void *const *cls = table(&ID_CLS);
  ASSERT_TRUE((uintptr_t)cls[0] > 4096); /* a function, not a size */
  /* A slot nobody described answers NOT_SUPPORTED instead of crashing. */
  ASSERT_EQ(((noarg_fn)table(&ID_CUDART)[3])(), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(((noarg_fn)table(&ID_CTXINFO)[50])(), CUDA_ERROR_NOT_SUPPORTED);
  /* Known slots of the old module loaders fail the same way; load_compilers succeeds. */
  ASSERT_EQ(((CUresult(*)(CUmodule *, const void *))table(&ID_CUDART)[1])(NULL, NULL), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(((noarg_fn)table(&ID_CUDART)[12])(), CUDA_SUCCESS);
}

TEST(darkapi_hooks_buffers) {
  void *const *t = table(&ID_HOOKS);
  void *buf = NULL;
  size_t n = 0;
  ((hooks_fn)t[2])(&buf, &n);
  ASSERT_TRUE(buf != NULL);
  ASSERT_TRUE(n >= 1024);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(((uint64_t *)buf)[i], 0);
  void *buf6 = NULL;
  size_t n6 = 0;
  ((hooks_fn)t[6])(&buf6, &n6);
  ASSERT_TRUE(buf6 != NULL && buf6 != buf);
  ASSERT_TRUE(n6 >= 14);
  for (size_t i = 0; i < n6; i++) ASSERT_EQ(((uint64_t *)buf6)[i], 0);
  ((hooks_fn)t[6])(NULL, NULL); /* tolerated */
}

TEST(darkapi_primary_ctx_slot_does_not_retain) {
  fakehost fh;
  fh_start(&fh, FH_NORMAL);
  primary_fn get = (primary_fn)table(&ID_CUDART)[2];
  CUcontext p = NULL;
  ASSERT_EQ(get(&p, 0), CUDA_ERROR_NOT_INITIALIZED);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  ASSERT_EQ(get(&p, 0), CUDA_SUCCESS);
  ASSERT_TRUE(p != NULL);
  CUcontext p1 = NULL;
  ASSERT_EQ(get(&p1, 1), CUDA_SUCCESS);
  ASSERT_TRUE(p1 != p);
  ASSERT_EQ(get(&p1, 2), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_EQ(get(NULL, 0), CUDA_ERROR_INVALID_VALUE);
  unsigned flags;
  int active = 1;
  ASSERT_EQ(cuDevicePrimaryCtxGetState(0, &flags, &active), CUDA_SUCCESS);
  ASSERT_EQ(active, 0);
  ASSERT_EQ(fh_get(&fh, 0).retains, 0);
  /* cudart's order: make it current, then retain; the retain returns the same handle. */
  ASSERT_EQ(cuCtxSetCurrent(p), CUDA_SUCCESS);
  CUcontext r = NULL;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&r, 0), CUDA_SUCCESS);
  ASSERT_PTR_EQ(r, p);
  CUdevice dev = -1;
  ASSERT_EQ(cuCtxGetDevice_v2(&dev, NULL), CUDA_SUCCESS);
  ASSERT_EQ(dev, 0);
}

/* ---- context local storage ---- */

static char g_order[64];
static void dtor(void *ctx, void *key, void *value) {
  size_t n = strlen(g_order);
  if (n + 1 < sizeof g_order) g_order[n] = *(const char *)value, g_order[n + 1] = 0;
}

static cls_put_fn g_put;
static cls_delete_fn g_del;
static cls_get_fn g_get;

static void load_cls(void) {
  void *const *t = table(&ID_CLS);
  g_put = (cls_put_fn)t[0];
  g_del = (cls_delete_fn)t[1];
  g_get = (cls_get_fn)t[2];
}

static CUcontext start_with_primary(fakehost *fh) {
  fh_start(fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  load_cls();
  CUcontext c;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&c, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(c), CUDA_SUCCESS);
  return c;
}

TEST(darkapi_cls_put_get_delete) {
  fakehost fh;
  CUcontext c = start_with_primary(&fh);
  int k1, k2;
  char a = 'a', b = 'b', z = 'z';
  void *v = NULL;
  ASSERT_EQ(g_get(&v, c, &k1), CUDA_ERROR_INVALID_HANDLE); /* missing key: an error */
  ASSERT_EQ(g_put(c, &k1, &a, dtor), CUDA_SUCCESS);
  ASSERT_EQ(g_put(NULL, &k2, &b, dtor), CUDA_SUCCESS); /* NULL: the current context */
  ASSERT_EQ(g_get(&v, c, &k1), CUDA_SUCCESS);
  ASSERT_PTR_EQ(v, &a);
  ASSERT_EQ(g_get(&v, c, &k2), CUDA_SUCCESS);
  ASSERT_PTR_EQ(v, &b);
  ASSERT_EQ(g_get(&v, (CUcontext)(intptr_t)-1, &k1), CUDA_SUCCESS); /* -1: the current context too */
  ASSERT_PTR_EQ(v, &a);
  ASSERT_EQ(g_put(c, &k1, &z, dtor), CUDA_SUCCESS); /* replace, no destructor */
  ASSERT_EQ(g_get(&v, NULL, &k1), CUDA_SUCCESS);
  ASSERT_PTR_EQ(v, &z);
  ASSERT_STR_EQ(g_order, "");
  ASSERT_EQ(g_del(c, &k1), CUDA_SUCCESS);
  ASSERT_STR_EQ(g_order, ""); /* delete does not destroy: the owner asked for it */
  ASSERT_EQ(g_get(&v, c, &k1), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_EQ(g_del(c, &k1), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_EQ(g_get(NULL, c, &k2), CUDA_ERROR_INVALID_VALUE);
  /* The other device's primary context is a different storage. */
  CUcontext p1;
  ASSERT_EQ(((primary_fn)table(&ID_CUDART)[2])(&p1, 1), CUDA_SUCCESS);
  ASSERT_EQ(g_get(&v, p1, &k2), CUDA_ERROR_INVALID_HANDLE);
  /* Not a context at all. */
  ASSERT_EQ(g_put((CUcontext)(uintptr_t)0x1000, &k1, &a, dtor), CUDA_ERROR_INVALID_CONTEXT);
}

TEST(darkapi_cls_no_current_context) {
  fakehost fh;
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  load_cls();
  int k;
  void *v = (void *)1;
  ASSERT_EQ(g_get(&v, NULL, &k), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(g_put(NULL, &k, &k, NULL), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(g_del(NULL, &k), CUDA_ERROR_INVALID_CONTEXT);
}

TEST(darkapi_cls_destructors_on_primary_reset) {
  fakehost fh;
  CUcontext c = start_with_primary(&fh);
  int k1, k2, k3;
  char a = 'a', b = 'b', cc = 'c';
  ASSERT_EQ(g_put(c, &k1, &a, dtor), CUDA_SUCCESS);
  ASSERT_EQ(g_put(c, &k2, &b, dtor), CUDA_SUCCESS);
  ASSERT_EQ(g_put(c, &k3, &cc, dtor), CUDA_SUCCESS);
  ASSERT_EQ(g_del(c, &k2), CUDA_SUCCESS);
  ASSERT_EQ(cuDevicePrimaryCtxReset_v2(0), CUDA_SUCCESS);
  ASSERT_STR_EQ(g_order, "ca"); /* most recently put first; the deleted entry is gone */
  void *v;
  ASSERT_EQ(g_get(&v, c, &k1), CUDA_ERROR_INVALID_HANDLE); /* cudart rebuilds from here */
  ASSERT_EQ(g_get(&v, c, &k3), CUDA_ERROR_INVALID_HANDLE);
  /* cudart's recovery: retain again and put again. */
  CUcontext r;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&r, 0), CUDA_SUCCESS);
  ASSERT_PTR_EQ(r, c);
  ASSERT_EQ(g_put(c, &k1, &a, dtor), CUDA_SUCCESS);
  ASSERT_EQ(g_get(&v, c, &k1), CUDA_SUCCESS);
  /* The last release destroys the context, and the storage with it. */
  g_order[0] = 0;
  ASSERT_EQ(cuDevicePrimaryCtxRelease_v2(0), CUDA_SUCCESS); /* 2 -> 1 */
  ASSERT_STR_EQ(g_order, "");
  ASSERT_EQ(cuDevicePrimaryCtxRelease_v2(0), CUDA_SUCCESS); /* 1 -> 0 */
  ASSERT_STR_EQ(g_order, "a");
}

TEST(darkapi_cls_destructors_on_context_destroy) {
  fakehost fh;
  CUcontext p = start_with_primary(&fh);
  CUcontext c;
  ASSERT_EQ(cuCtxCreate_v2(&c, 0, 0), CUDA_SUCCESS);
  int k;
  char x = 'x', y = 'y';
  ASSERT_EQ(g_put(NULL, &k, &x, dtor), CUDA_SUCCESS); /* the created context is current */
  ASSERT_EQ(g_put(p, &k, &y, dtor), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxDestroy_v2(c), CUDA_SUCCESS);
  ASSERT_STR_EQ(g_order, "x");
  void *v;
  ASSERT_EQ(g_get(&v, p, &k), CUDA_SUCCESS); /* other contexts keep theirs */
  ASSERT_PTR_EQ(v, &y);
}

/* A destructor may use the storage itself (no lock is held while it runs). */
static int g_k2;
static void reentrant_dtor(void *ctx, void *key, void *value) {
  void *v;
  g_order[0] = g_get(&v, ctx, &g_k2) == CUDA_ERROR_INVALID_HANDLE ? 'R' : '!';
  g_order[1] = g_put(ctx, &g_k2, value, NULL) == CUDA_SUCCESS ? 'P' : '!';
  g_order[2] = 0;
}

TEST(darkapi_cls_destructor_may_reenter) {
  fakehost fh;
  CUcontext c = start_with_primary(&fh);
  int k;
  ASSERT_EQ(g_put(c, &k, &k, reentrant_dtor), CUDA_SUCCESS);
  ASSERT_EQ(cuDevicePrimaryCtxReset_v2(0), CUDA_SUCCESS);
  ASSERT_STR_EQ(g_order, "RP");
}

static void *cls_worker(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  int keys[64];
  int ok = 1;
  for (int round = 0; round < 50 && ok; round++) {
    for (int i = 0; i < 64; i++) ok &= g_put(NULL, &keys[i], (void *)(id * 1000 + (uintptr_t)i), NULL) == CUDA_SUCCESS;
    for (int i = 0; i < 64; i++) {
      void *v = NULL;
      ok &= g_get(&v, NULL, &keys[i]) == CUDA_SUCCESS && v == (void *)(id * 1000 + (uintptr_t)i);
    }
    for (int i = 0; i < 64; i++) ok &= g_del(NULL, &keys[i]) == CUDA_SUCCESS;
  }
  return (void *)(uintptr_t)ok;
}

/* The current context is per thread: new threads have none until they set one, so their
 * NULL-context requests fail even though the main thread has a context. */
TEST(darkapi_cls_new_threads_have_no_context) {
  fakehost fh;
  (void)start_with_primary(&fh);
  pthread_t t[4];
  for (uintptr_t i = 0; i < 4; i++) ASSERT_EQ(pthread_create(&t[i], NULL, cls_worker, (void *)(i + 1)), 0);
  for (int i = 0; i < 4; i++) {
    void *r = (void *)1;
    pthread_join(t[i], &r);
    ASSERT_PTR_EQ(r, NULL);
  }
}

struct with_ctx { CUcontext c; uintptr_t id; };
static void *cls_worker_ctx(void *arg) {
  struct with_ctx *w = arg;
  if (cuCtxSetCurrent(w->c) != CUDA_SUCCESS) return NULL;
  return cls_worker((void *)w->id);
}

TEST(darkapi_cls_threads_share_a_context) {
  fakehost fh;
  CUcontext c = start_with_primary(&fh);
  pthread_t t[4];
  struct with_ctx w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (struct with_ctx){c, (uintptr_t)i + 1};
    ASSERT_EQ(pthread_create(&t[i], NULL, cls_worker_ctx, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    void *r = NULL;
    pthread_join(t[i], &r);
    ASSERT_PTR_EQ(r, (void *)1);
  }
}

/* ---- checks, context ids, integrity ---- */

TEST(darkapi_context_checks_and_ids) {
  fakehost fh;
  CUcontext c = start_with_primary(&fh);
  uint32_t flags = 7;
  void *detail = (void *)0x77;
  ASSERT_EQ(((check_fn)table(&ID_CHECKS)[2])(c, &flags, &detail), CUDA_SUCCESS);
  ASSERT_EQ(flags, 0);
  ASSERT_PTR_EQ(detail, (void *)0x77);
  ASSERT_EQ(((uint32_t(*)(void))table(&ID_CHECKS)[3])(), 0);
  ctxid_fn id = (ctxid_fn)table(&ID_CTXINFO)[4];
  unsigned long long a = 0, b = 0, a2 = 0;
  ASSERT_EQ(id(c, &a), CUDA_SUCCESS);
  ASSERT_EQ(id(NULL, &a2), CUDA_SUCCESS);
  ASSERT_U64_EQ(a, a2);
  CUcontext p1;
  ASSERT_EQ(((primary_fn)table(&ID_CUDART)[2])(&p1, 1), CUDA_SUCCESS);
  ASSERT_EQ(id(p1, &b), CUDA_SUCCESS);
  ASSERT_TRUE(a != b);
  /* A reset context is a new context. */
  ASSERT_EQ(cuDevicePrimaryCtxReset_v2(0), CUDA_SUCCESS);
  ASSERT_EQ(id(c, &a2), CUDA_SUCCESS);
  ASSERT_TRUE(a2 != a && a2 != b);
  ASSERT_EQ(id(c, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(id((CUcontext)(uintptr_t)0x1000, &a), CUDA_ERROR_INVALID_CONTEXT);
}

TEST(darkapi_integrity_check_answer) {
  fakehost fh;
  fh_start(&fh, FH_NORMAL);
  void *const *t = table(&ID_INTEGRITY);
  integrity_fn f = (integrity_fn)t[1];
  uint64_t res[2] = {0, 0};
  ASSERT_EQ(f(13002, 1700000000ull, res), CUDA_ERROR_NOT_INITIALIZED);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  /* The first two of cudart's three calls get the driver's fixed answers. */
  ASSERT_EQ(f(13000, 1, res), CUDA_SUCCESS);
  ASSERT_U64_EQ(res[0], 0x3341181C03CB675Cull);
  ASSERT_U64_EQ(res[1], 0x8ED383AA1F4CD1E8ull);
  ASSERT_EQ(f(13001, 1, res), CUDA_SUCCESS);
  ASSERT_U64_EQ(res[0], 0x1841181C03CB675Cull);
  ASSERT_EQ(f(13002, 1, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(f(13002, 1700000000ull, res), CUDA_SUCCESS);
  /* The third is the MAC over what this library reports: recompute it from the public API. */
  int dv = 0, n = 0;
  ASSERT_EQ(cuDriverGetVersion(&dv), CUDA_SUCCESS);
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_SUCCESS);
  ASSERT_EQ(n, 2);
  vg_integrity_head m = {
      .driver_version = (uint32_t)dv,
      .version = 13002,
      .pid = (uint32_t)getpid(),
      .tid = (uint32_t)(uintptr_t)pthread_self(),
      .cudart_table = (uint64_t)(uintptr_t)table(&ID_CUDART),
      .integrity_table = (uint64_t)(uintptr_t)t,
      .integrity_fn = (uint64_t)(uintptr_t)t[1],
      .unix_seconds = 1700000000ull,
  };
  vg_integrity_dev d[2];
  for (int i = 0; i < n; i++) {
    CUuuid u;
    ASSERT_EQ(cuDeviceGetUuid_v2(&u, i), CUDA_SUCCESS);
    memcpy(d[i].uuid, u.bytes, 16);
    ASSERT_EQ(cuDeviceGetAttribute(&d[i].pci_domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, i), CUDA_SUCCESS);
    ASSERT_EQ(cuDeviceGetAttribute(&d[i].pci_bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, i), CUDA_SUCCESS);
    ASSERT_EQ(cuDeviceGetAttribute(&d[i].pci_device, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, i), CUDA_SUCCESS);
  }
  uint8_t want[16];
  vg_integrity_mac(&m, d, n, want);
  ASSERT_EQ(memcmp(res, want, 16), 0);
  /* The clock and the version are part of the message. */
  uint64_t other[2];
  ASSERT_EQ(f(13002, 1700000001ull, other), CUDA_SUCCESS);
  ASSERT_TRUE(memcmp(res, other, 16) != 0);
  ASSERT_EQ(f(12082, 1700000000ull, other), CUDA_SUCCESS);
  ASSERT_TRUE(memcmp(res, other, 16) != 0);
}

TEST(darkapi_tools_tls_reports_current_context) {
  fakehost fh;
  CUcontext c = start_with_primary(&fh);
  CUcontext out = NULL;
  ASSERT_EQ(((CUresult(*)(CUcontext *))table(&ID_TOOLS_TLS)[2])(&out), CUDA_SUCCESS);
  ASSERT_PTR_EQ(out, c);
}
