/*
 * PTX cases as data: softgpu/tests/ptx/cases/<name>.ptx, each carrying its launch shape and
 * expected output (or expected failure) in header comments (format in cases/README). Adding a
 * case is adding a file and one PTX_CASE line.
 */
#include "ptx/ptx_test_util.h"

static const struct { const char *name; sg_ptx_status st; } statuses[] = {
  {"OK", SG_PTX_OK}, {"ILLEGAL_ADDRESS", SG_PTX_ERR_ILLEGAL_ADDRESS}, {"MISALIGNED", SG_PTX_ERR_MISALIGNED},
  {"UNSUPPORTED", SG_PTX_ERR_UNSUPPORTED}, {"TRAP", SG_PTX_ERR_TRAP}, {"LAUNCH", SG_PTX_ERR_LAUNCH},
  {"OUT_OF_RESOURCES", SG_PTX_ERR_OUT_OF_RESOURCES},
};

static void run_case(const char *file) {
  size_t n;
  char *text = ptxt_read(file, &n);
  unsigned grid = 1, block = 1;
  uint32_t want[256];
  size_t nwant = 0;
  sg_ptx_status want_st = SG_PTX_OK;
  for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "// launch:", 10) == 0) {
      if (sscanf(line + 10, "%u %u", &grid, &block) != 2) FAIL("%s: bad launch line", file);
    } else if (strncmp(line, "// expect-u32:", 14) == 0) {
      const char *p = line + 14;
      char *end;
      for (;;) {
        unsigned long v = strtoul(p, &end, 0);
        if (end == p || nwant == 256) break;
        want[nwant++] = (uint32_t)v;
        p = end;
      }
    } else if (strncmp(line, "// expect-status:", 17) == 0) {
      char name[64] = "";
      if (sscanf(line + 17, "%63s", name) != 1) FAIL("%s: bad expect-status", file);
      size_t k = 0;
      while (k < sizeof statuses / sizeof *statuses && strcmp(statuses[k].name, name) != 0) k++;
      if (k == sizeof statuses / sizeof *statuses) FAIL("%s: unknown status %s", file, name);
      want_st = statuses[k].st;
    }
  }
  sg_ptx_module *m = ptxt_load_text(text);
  free(text);
  size_t words = nwant > 16 ? nwant : 16;
  sg_devptr out = ptxt_alloc(words * 4);
  uint32_t *h = ptxt_host(out, words * 4);
  memset(h, 0, words * 4);
  uint64_t P[1] = {out};
  char err[512] = "";
  sg_ptx_status st = ptxt_launch(ptxt_kernel(m, "k"), grid, 1, block, 1, 0, P, sizeof P, err, sizeof err);
  if (st != want_st) FAIL("%s: status %d (%s), want %d", file, (int)st, err, (int)want_st);
  for (size_t k = 0; k < nwant; k++)
    if (h[k] != want[k]) FAIL("%s: word %zu = 0x%x, want 0x%x", file, k, h[k], want[k]);
  sg_ptx_unload(m);
}

#define PTX_CASE(id, file) TEST(ptx_case_##id) { run_case("cases/" file); }

PTX_CASE(shifts, "shifts.ptx")
PTX_CASE(divergent_loop, "divergent-loop.ptx")
PTX_CASE(shfl_segments, "shfl-segments.ptx")
PTX_CASE(oob_store, "oob-store.ptx")
PTX_CASE(misaligned, "misaligned.ptx")
PTX_CASE(unsupported, "unsupported.ptx")
PTX_CASE(bmsk_szext, "bmsk-szext.ptx")
PTX_CASE(spin_wait, "spin-wait.ptx")
PTX_CASE(signed_loads, "signed-loads.ptx")
PTX_CASE(int_misc, "int-misc.ptx")
PTX_CASE(half_atomics, "half-atomics.ptx")
PTX_CASE(tile_masks, "tile-masks.ptx")
