/* The guest's doctor (guest/cuda/impl/doctor.c) against the fake host: where connecting stopped
 * (vg_session_failure) and the report's failed check and fix for each. The success path, with a
 * kernel run, is tested against the real mediator (test/e2e/guest-doctor.test.ts). */
#include "vgcuda.h"

#include "doctor.h"
#include "fakehost.h"
#include "session.h"
#include "vgtest.h"
#include "wire_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fakehost fh;

/* The report as text, and how many checks failed. */
static int report_text(char *out, size_t cap) {
  FILE *f = tmpfile();
  ASSERT_TRUE(f != NULL);
  int failed = vgpu_doctor_report(fileno(f));
  rewind(f);
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = 0;
  fclose(f);
  return failed;
}

static void assert_has(const char *text, const char *needle) {
  if (!strstr(text, needle)) VGT_FAIL("no \"%s\" in the report:\n%s", needle, text);
}

/* A check's line starts "STATE  NAME  DETAIL", the state and name padded as doctor.c does. */
static void assert_line(const char *text, const char *state, const char *name, const char *detail) {
  char want[1024];
  snprintf(want, sizeof want, "%-4s  %-12s  %s", state, name, detail);
  assert_has(text, want);
}

TEST(doctor_refused_token_names_the_token_fix) {
  fh_start(&fh, FH_REFUSE);
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  char why[512];
  uint32_t code = 0;
  ASSERT_EQ(vg_session_failure(why, sizeof why, &code), VG_FAIL_REFUSED);
  ASSERT_EQ(code, VG_WIRE_STATUS_AUTH);
  ASSERT_TRUE(strstr(why, "VG_WIRE_STATUS_AUTH") != NULL);
  static char text[16384];
  ASSERT_TRUE(report_text(text, sizeof text) >= 1);
  assert_line(text, "ok", "server", "");
  assert_line(text, "fail", "token", "host refused the session: VG_WIRE_STATUS_AUTH");
  assert_has(text, "fix: set VGPU_TOKEN");
  ASSERT_TRUE(strstr(text, "ok    kernel") == NULL);
}

TEST(doctor_dead_socket_names_the_server_fix) {
  fh_point_at_dead_socket();
  char why[512];
  uint32_t code = 0;
  ASSERT_EQ(vg_session_failure(why, sizeof why, &code), VG_FAIL_NONE); /* not tried yet */
  static char text[16384];
  ASSERT_TRUE(report_text(text, sizeof text) >= 1);
  ASSERT_EQ(vg_session_failure(why, sizeof why, &code), VG_FAIL_CONNECT);
  assert_line(text, "fail", "server", "cannot reach unix:");
  assert_has(text, "fix: start the mediator on the host");
}

TEST(doctor_no_server_names_the_config_fix) {
  unsetenv("VGPU_SERVER");
  setenv("VGPU_CONFIG", "/dev/null", 1);
  static char text[16384];
  ASSERT_TRUE(report_text(text, sizeof text) >= 1);
  assert_line(text, "fail", "config", "no server configured (VGPU_SERVER unset; /dev/null names none)");
  assert_has(text, "fix: set VGPU_SERVER");
  /* Nothing was tried: no server line at all. */
  ASSERT_TRUE(strstr(text, "\nok    server") == NULL && strstr(text, "\nfail  server") == NULL);
}

TEST(doctor_at_init_only_with_the_variable) {
  fh_point_at_dead_socket();
  /* The report goes to stderr: redirect it to a file to see it. */
  FILE *f = tmpfile();
  ASSERT_TRUE(f != NULL);
  int saved = dup(STDERR_FILENO);
  ASSERT_TRUE(dup2(fileno(f), STDERR_FILENO) >= 0);
  unsetenv("VGPU_DOCTOR");
  (void)cuInit(0);
  setenv("VGPU_DOCTOR", "1", 1);
  (void)cuInit(0);
  (void)cuInit(0); /* once per process */
  fflush(stderr);
  ASSERT_TRUE(dup2(saved, STDERR_FILENO) >= 0);
  close(saved);
  static char text[32768];
  rewind(f);
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  const char *first = strstr(text, "vgpu guest check (VGPU_DOCTOR=1)");
  ASSERT_TRUE(first != NULL);
  ASSERT_TRUE(strstr(first + 1, "vgpu guest check (VGPU_DOCTOR=1)") == NULL);
  assert_line(text, "fail", "server", "cannot reach");
}
