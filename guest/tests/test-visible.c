/* CUDA_VISIBLE_DEVICES parsing. */
#include "vgcuda.h"

#include "vgtest.h"

static const uint8_t U[4][16] = {
    {0xaa, 0x11, 0x22, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    {0xbb, 0x11, 0x22, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
    {0xbb, 0x12, 0x22, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3},
    {0xcc, 0x11, 0x22, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4}};

static int parse(const char *spec, int *map) { return vg_visible_parse(spec, 4, U, map, 16); }

TEST(visible_unset_shows_all) {
  int m[16];
  ASSERT_EQ(parse(NULL, m), 4);
  ASSERT_EQ(m[3], 3);
}

TEST(visible_indices_reorder_and_renumber) {
  int m[16];
  ASSERT_EQ(parse("2,0", m), 2);
  ASSERT_EQ(m[0], 2);
  ASSERT_EQ(m[1], 0);
  ASSERT_EQ(parse(" 3 , 1 ", m), 2);
  ASSERT_EQ(m[0], 3);
  ASSERT_EQ(m[1], 1);
}

TEST(visible_stops_at_first_invalid) {
  int m[16];
  ASSERT_EQ(parse("1,7,2", m), 1);  /* 7 does not exist */
  ASSERT_EQ(parse("0,1,-1,2", m), 2);
  ASSERT_EQ(parse("-1", m), 0);
  ASSERT_EQ(parse("", m), 0);
  ASSERT_EQ(parse("1a,2", m), 0);
  ASSERT_EQ(parse("0,,1", m), 1);
  ASSERT_EQ(parse("MIG-abc,0", m), 0);
}

TEST(visible_duplicate_ends_list) {
  int m[16];
  ASSERT_EQ(parse("1,2,1,3", m), 2);
  ASSERT_EQ(m[1], 2);
}

TEST(visible_uuid_prefixes) {
  int m[16];
  ASSERT_EQ(parse("GPU-cc", m), 1);
  ASSERT_EQ(m[0], 3);
  ASSERT_EQ(parse("GPU-aa112233-0000-0000-0000-000000000001", m), 1);
  ASSERT_EQ(m[0], 0);
  ASSERT_EQ(parse("gpu-BB12,0", m), 2); /* case-insensitive */
  ASSERT_EQ(m[0], 2);
  ASSERT_EQ(m[1], 0);
  ASSERT_EQ(parse("GPU-bb,0", m), 0);   /* ambiguous prefix */
  ASSERT_EQ(parse("GPU-dd,0", m), 0);   /* no such device */
  ASSERT_EQ(parse("GPU-,0", m), 0);
  ASSERT_EQ(parse("0,GPU-aa", m), 1);   /* device 0 again */
}

TEST(visible_uuid_format) {
  char s[41];
  vg_uuid_format(U[0], s);
  ASSERT_STR_EQ(s, "GPU-aa112233-0000-0000-0000-000000000001");
}
