/* Tagged handles: kinds, generations, growth, reverse lookup, fork behaviour. */
#include "vgtest.h"

#include "handles.h"

#include <pthread.h>

TEST(handles_roundtrip_and_kind_check) {
  int data;
  void *h = vg_handle_new(VG_H_STREAM, 0x1234, &data);
  ASSERT_TRUE(h != NULL);
  uint64_t rid = 0;
  void *d = NULL;
  ASSERT_EQ(vg_handle_get(h, VG_H_STREAM, &rid, &d), 0);
  ASSERT_U64_EQ(rid, 0x1234);
  ASSERT_PTR_EQ(d, &data);
  ASSERT_EQ(vg_handle_kind(h), VG_H_STREAM);
  ASSERT_EQ(vg_handle_get(h, VG_H_EVENT, &rid, &d), -1); /* wrong kind */
  ASSERT_PTR_EQ(vg_handle_find(VG_H_STREAM, 0x1234), h);
  ASSERT_PTR_EQ(vg_handle_find(VG_H_EVENT, 0x1234), NULL);
}

TEST(handles_stale_after_release) {
  int data;
  void *h = vg_handle_new(VG_H_EVENT, 0x2000, &data);
  ASSERT_PTR_EQ(vg_handle_release(h), &data);
  ASSERT_EQ(vg_handle_get(h, VG_H_EVENT, NULL, NULL), -1);
  ASSERT_EQ(vg_handle_kind(h), VG_H_NONE);
  ASSERT_PTR_EQ(vg_handle_release(h), NULL); /* double release is detected */
  ASSERT_PTR_EQ(vg_handle_find(VG_H_EVENT, 0x2000), NULL);
  /* The slot is reused with a new generation: the old value stays dead. */
  void *h2 = vg_handle_new(VG_H_EVENT, 0x2001, NULL);
  ASSERT_NE((uintptr_t)h2, (uintptr_t)h);
  ASSERT_EQ(vg_handle_get(h, VG_H_EVENT, NULL, NULL), -1);
  ASSERT_EQ(vg_handle_get(h2, VG_H_EVENT, NULL, NULL), 0);
}

TEST(handles_forged_values_rejected) {
  ASSERT_EQ(vg_handle_get(NULL, VG_H_CONTEXT, NULL, NULL), -1);
  ASSERT_EQ(vg_handle_get((void *)1, VG_H_STREAM, NULL, NULL), -1);
  ASSERT_EQ(vg_handle_get((void *)(uintptr_t)0x0100000100000000ull, VG_H_CONTEXT, NULL, NULL), -1);
  int x;
  ASSERT_EQ(vg_handle_get(&x, VG_H_CONTEXT, NULL, NULL), -1); /* a real pointer is not a handle */
  ASSERT_EQ(vg_handle_get((void *)(uintptr_t)0xFF00000100000000ull, VG_H_NONE, NULL, NULL), -1);
  ASSERT_PTR_EQ(vg_handle_new(VG_H_NONE, 1, NULL), NULL);
  ASSERT_PTR_EQ(vg_handle_new(VG_H_KIND_COUNT, 1, NULL), NULL);
}

TEST(handles_grow_and_set_rid) {
  void *hs[5000];
  for (int i = 0; i < 5000; i++) hs[i] = vg_handle_new(VG_H_MODULE, 0x10000 + (uint64_t)i, NULL);
  for (int i = 0; i < 5000; i += 7) ASSERT_PTR_EQ(vg_handle_find(VG_H_MODULE, 0x10000 + (uint64_t)i), hs[i]);
  for (int i = 0; i < 5000; i += 2) vg_handle_release(hs[i]);
  for (int i = 1; i < 5000; i += 2) {
    uint64_t rid;
    ASSERT_EQ(vg_handle_get(hs[i], VG_H_MODULE, &rid, NULL), 0);
    ASSERT_U64_EQ(rid, 0x10000 + (uint64_t)i);
    ASSERT_PTR_EQ(vg_handle_find(VG_H_MODULE, rid), hs[i]);
  }
  ASSERT_EQ(vg_handle_set_rid(hs[1], VG_H_MODULE, 0x99999), 0);
  ASSERT_PTR_EQ(vg_handle_find(VG_H_MODULE, 0x10001), NULL);
  ASSERT_PTR_EQ(vg_handle_find(VG_H_MODULE, 0x99999), hs[1]);
  ASSERT_EQ(vg_handle_set_rid(hs[0], VG_H_MODULE, 5), -1); /* released */
  ASSERT_EQ(vg_handle_set_rid(hs[1], VG_H_STREAM, 5), -1); /* wrong kind */
}

static void *churn(void *arg) {
  for (int i = 0; i < 2000; i++) {
    void *h = vg_handle_new(VG_H_STREAM, 0x100000 + (uint64_t)(uintptr_t)arg * 10000 + (uint64_t)i, NULL);
    if (vg_handle_get(h, VG_H_STREAM, NULL, NULL) != 0) return (void *)1;
    if (i % 3 == 0) vg_handle_release(h);
  }
  return NULL;
}

TEST(handles_thread_safe) {
  pthread_t t[4];
  for (intptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, (void *)i);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    ASSERT_PTR_EQ(r, NULL);
  }
}

TEST(handles_fork_child_drops_remote_objects) {
  void *ctx = vg_handle_new(VG_H_CONTEXT, 0x1001, NULL);
  void *st = vg_handle_new(VG_H_STREAM, 0x1002, NULL);
  vg_handle_fork_prepare();
  vg_handle_fork_child();
  uint64_t rid = 1;
  ASSERT_EQ(vg_handle_get(ctx, VG_H_CONTEXT, &rid, NULL), 0); /* contexts stay, without an id */
  ASSERT_U64_EQ(rid, 0);
  ASSERT_EQ(vg_handle_get(st, VG_H_STREAM, NULL, NULL), -1);
  ASSERT_PTR_EQ(vg_handle_find(VG_H_STREAM, 0x1002), NULL);
}
