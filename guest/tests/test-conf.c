/* guest.conf parsing and the environment taking precedence. */
#include "vgtest.h"

#include "conf.h"

#include <unistd.h>

TEST(conf_parse_keys_comments_whitespace) {
  const char *t = "# vgpu guest\n"
                  "server = unix:/run/vgpu.sock\n"
                  "  token=abc123   # trailing comment\n"
                  "\n"
                  "log\t=\tdebug\r\n"
                  "log_file = /var/log/vgpu.log\n"
                  "tls_ca = /etc/vgpu/ca.pem\n"
                  "tls_pin = sha256:ab\n"
                  "tls_cert = /etc/vgpu/guest.pem\n"
                  "tls_key = /etc/vgpu/guest.key\n";
  vg_conf c;
  memset(&c, 0, sizeof c);
  ASSERT_EQ(vg_conf_parse(t, strlen(t), &c), 0);
  ASSERT_STR_EQ(c.server, "unix:/run/vgpu.sock");
  ASSERT_STR_EQ(c.token, "abc123");
  ASSERT_STR_EQ(c.log, "debug");
  ASSERT_STR_EQ(c.log_file, "/var/log/vgpu.log");
  ASSERT_STR_EQ(c.tls_ca, "/etc/vgpu/ca.pem");
  ASSERT_STR_EQ(c.tls_pin, "sha256:ab");
  ASSERT_STR_EQ(c.tls_cert, "/etc/vgpu/guest.pem");
  ASSERT_STR_EQ(c.tls_key, "/etc/vgpu/guest.key");
  ASSERT_STR_EQ(c.problem, "");
}

TEST(conf_parse_bad_lines_reported_and_skipped) {
  const char *t = "server = tcp:10.0.0.1:7000\nnonsense line\ncolour = blue\ntoken = t\n";
  vg_conf c;
  memset(&c, 0, sizeof c);
  ASSERT_EQ(vg_conf_parse(t, strlen(t), &c), 2);
  ASSERT_STR_EQ(c.server, "tcp:10.0.0.1:7000");
  ASSERT_STR_EQ(c.token, "t");
  ASSERT_TRUE(strstr(c.problem, "line 2") != NULL);
}

TEST(conf_parse_value_too_long_rejected) {
  char t[3000];
  memset(t, 'x', sizeof t);
  memcpy(t, "log = ", 6);
  vg_conf c;
  memset(&c, 0, sizeof c);
  ASSERT_EQ(vg_conf_parse(t, sizeof t, &c), 1);
  ASSERT_STR_EQ(c.log, "");
}

TEST(conf_file_then_environment) {
  char path[] = "/tmp/vgpu-conf-XXXXXX";
  int fd = mkstemp(path);
  const char *t = "server = unix:/from/file\ntoken = filetoken\nlog = info\n";
  ASSERT_EQ(write(fd, t, strlen(t)), (long long)strlen(t));
  close(fd);
  setenv("VGPU_CONFIG", path, 1);
  unsetenv("VGPU_SERVER");
  unsetenv("VGPU_LOG");
  unsetenv("VGPU_LOG_FILE");
  setenv("VGPU_TOKEN", "envtoken", 1);
  vg_conf_reset();
  const vg_conf *c = vg_conf_get();
  ASSERT_STR_EQ(c->server, "unix:/from/file");
  ASSERT_STR_EQ(c->token, "envtoken");
  ASSERT_STR_EQ(c->log, "info");
  unlink(path);
}

TEST(conf_missing_explicit_file_is_a_problem) {
  setenv("VGPU_CONFIG", "/nonexistent/dir/guest.conf", 1);
  vg_conf_reset();
  ASSERT_TRUE(strstr(vg_conf_get()->problem, "cannot open") != NULL);
}
