/* Server addresses and bounded TCP connects. */
#include "vgcuda.h"

#include "conn.h"
#include "log.h"
#include "tls.h"
#include "vgtest.h"

#include <fcntl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

TEST(conn_parse_addresses) {
  vg_addr a;
  char err[256];
  ASSERT_EQ(vg_addr_parse("unix:/run/vgpu.sock", &a, err, sizeof err), 0);
  ASSERT_TRUE(a.is_unix);
  ASSERT_STR_EQ(a.path, "/run/vgpu.sock");
  ASSERT_EQ(vg_addr_parse("unix:@vgpu", &a, err, sizeof err), 0);
  ASSERT_STR_EQ(a.path, "@vgpu");
  ASSERT_EQ(vg_addr_parse("tcp:10.1.2.3:7000", &a, err, sizeof err), 0);
  ASSERT_TRUE(!a.is_unix);
  ASSERT_STR_EQ(a.host, "10.1.2.3");
  ASSERT_STR_EQ(a.port, "7000");
  ASSERT_EQ(vg_addr_parse("tcp:[::1]:7000", &a, err, sizeof err), 0);
  ASSERT_STR_EQ(a.host, "::1");
  ASSERT_EQ(vg_addr_parse("tcp:gpuhost.example:80", &a, err, sizeof err), 0);
  ASSERT_STR_EQ(a.host, "gpuhost.example");
  ASSERT_TRUE(!a.is_vsock && !a.is_tls);
  ASSERT_EQ(vg_addr_parse("tls:gpuhost.example:7443", &a, err, sizeof err), 0);
  ASSERT_TRUE(a.is_tls && !a.is_unix && !a.is_vsock);
  ASSERT_STR_EQ(a.host, "gpuhost.example");
  ASSERT_STR_EQ(a.port, "7443");
  ASSERT_EQ(vg_addr_parse("tls:[fd00::1]:7443", &a, err, sizeof err), 0);
  ASSERT_STR_EQ(a.host, "fd00::1");
  /* vsock addresses are only parsed here: this test never opens an AF_VSOCK socket (the machine
   * running it may be a VM whose vsock leads elsewhere). */
  ASSERT_EQ(vg_addr_parse("vsock:5000", &a, err, sizeof err), 0);
  ASSERT_TRUE(a.is_vsock && !a.is_unix);
  ASSERT_EQ(a.cid, VG_VSOCK_CID_HOST);
  ASSERT_EQ(a.vport, 5000);
  ASSERT_EQ(vg_addr_parse("vsock:3:4294967294", &a, err, sizeof err), 0);
  ASSERT_EQ(a.cid, 3);
  ASSERT_EQ(a.vport, 4294967294u);
  const char *bad[] = {"", "unix:", "tcp:host", "tcp::80", "tcp:host:", "tcp:host:80x", "http://x", "tcp:[::1]7000",
                       "vsock:", "vsock:0", "vsock:2:", "vsock::5000", "vsock:x", "vsock:2:5000:1", "vsock:4294967295",
                       "vsock:4294967296", "vsock:0:5000", "vsock:-1:5000", "vsock:2:50a", "tls:host", "tls::7443",
                       "tls:host:x", "tls:"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (vg_addr_parse(bad[i], &a, err, sizeof err) != -1) VGT_FAIL("accepted '%s'", bad[i]);
    ASSERT_TRUE(err[0] != 0);
  }
  ASSERT_EQ(vg_addr_parse(NULL, &a, err, sizeof err), -1);
}

static int listen_tcp(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sin;
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) || listen(fd, 4)) VGT_FAIL("cannot listen");
  getsockname(fd, (struct sockaddr *)&sin, &len);
  *port = ntohs(sin.sin_port);
  return fd;
}

TEST(conn_tcp_silent_host_bounded) {
  int port, lfd = listen_tcp(&port);
  char spec[64];
  snprintf(spec, sizeof spec, "tcp:127.0.0.1:%d", port);
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  setenv("VGPU_HANDSHAKE_TIMEOUT_MS", "200", 1);
  uint64_t t0 = vg_now_ns();
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE); /* connected, but no WELCOME ever comes */
  uint64_t dt = vg_now_ns() - t0;
  ASSERT_TRUE(dt >= 150000000ull && dt < 2000000000ull);
  close(lfd);
}

TEST(conn_tcp_refused_fast) {
  int port, lfd = listen_tcp(&port);
  close(lfd); /* nobody listens there now */
  char spec[64];
  snprintf(spec, sizeof spec, "tcp:127.0.0.1:%d", port);
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  uint64_t t0 = vg_now_ns();
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  ASSERT_TRUE(vg_now_ns() - t0 < 1000000000ull);
}

/* A guest connection to a fresh loopback listener, as vg_conn_open makes it. */
static int open_to_loopback(int *lfd) {
  int port;
  *lfd = listen_tcp(&port);
  vg_addr a;
  char err[256], spec[64];
  snprintf(spec, sizeof spec, "tcp:127.0.0.1:%d", port);
  ASSERT_EQ(vg_addr_parse(spec, &a, err, sizeof err), 0);
  int fd = vg_conn_open(&a, vg_now_ns() + 1000000000ull, err, sizeof err);
  ASSERT_TRUE(fd >= 0);
  return fd;
}

TEST(conn_tcp_nodelay_and_keepalive_set) {
  int lfd, fd = open_to_loopback(&lfd);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  ASSERT_TRUE(v != 0);
  ASSERT_EQ(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
  ASSERT_TRUE(v != 0);
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
  ASSERT_EQ(v, VG_KEEPALIVE_IDLE_S);
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &len), 0);
  ASSERT_EQ(v, VG_KEEPALIVE_CNT);
  unsigned u = 0;
  len = sizeof u;
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &u, &len), 0);
  ASSERT_EQ(u, VG_USER_TIMEOUT_MS);
  close(fd);
  close(lfd);
}

TEST(tls_pins_parse) {
  uint8_t d[32];
  char hex[80] = "sha256:";
  for (int i = 0; i < 32; i++) snprintf(hex + 7 + 2 * i, 3, "%02x", i * 7);
  ASSERT_EQ(vg_tls_parse_pin(hex, d), 0);
  ASSERT_EQ(d[0], 0);
  ASSERT_EQ(d[31], 31 * 7);
  /* openssl x509 -fingerprint prints upper case with colons: the same pin. */
  char colons[128] = "sha256:";
  for (int i = 0; i < 32; i++) snprintf(colons + strlen(colons), 4, i ? ":%02X" : "%02X", i * 7);
  uint8_t e[32];
  ASSERT_EQ(vg_tls_parse_pin(colons, e), 0);
  ASSERT_TRUE(memcmp(d, e, 32) == 0);
  const char *bad[] = {"", "sha256:", "sha1:00", "sha256:0", "sha256:zz", hex + 7};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (vg_tls_parse_pin(bad[i], d) == 0) VGT_FAIL("accepted pin '%s'", bad[i]);
  hex[strlen(hex) - 1] = 0; /* 63 digits */
  ASSERT_EQ(vg_tls_parse_pin(hex, d), -1);
}

/* A client certificate without its key (or the other way round), or one that cannot be read, is
 * refused before anything connects, naming what is wrong. */
TEST(tls_client_cert_checked_before_connecting) {
  char err[512];
  const char *pin = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
  vg_tls_conf half = {.pin = pin, .cert = "/etc/hostname"};
  ASSERT_EQ(vg_tls_check_config(&half, err, sizeof err), -1);
  ASSERT_TRUE(strstr(err, "VGPU_TLS_CERT") && strstr(err, "VGPU_TLS_KEY"));
  vg_tls_conf other = {.pin = pin, .key = "/etc/hostname"};
  ASSERT_EQ(vg_tls_check_config(&other, err, sizeof err), -1);
  vg_tls_conf missing = {.pin = pin, .cert = "/nonexistent/vgpu-guest.pem", .key = "/etc/hostname"};
  ASSERT_EQ(vg_tls_check_config(&missing, err, sizeof err), -1);
  ASSERT_TRUE(strstr(err, "/nonexistent/vgpu-guest.pem") && strstr(err, "No such file"));
  vg_tls_conf nokey = {.pin = pin, .cert = "/etc/hostname", .key = "/nonexistent/vgpu-guest.key"};
  ASSERT_EQ(vg_tls_check_config(&nokey, err, sizeof err), -1);
  ASSERT_TRUE(strstr(err, "/nonexistent/vgpu-guest.key") && strstr(err, "VGPU_TLS_KEY"));
}

/* Without a CA or a pin the guest never connects: the token could go to anyone. */
TEST(tls_unverifiable_server_never_reached) {
  int port, lfd = listen_tcp(&port);
  char spec[64];
  snprintf(spec, sizeof spec, "tls:127.0.0.1:%d", port);
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  unsetenv("VGPU_TLS_CA");
  unsetenv("VGPU_TLS_PIN");
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  (void)fcntl(lfd, F_SETFL, O_NONBLOCK);
  ASSERT_EQ(accept(lfd, NULL, NULL), -1); /* nobody connected */
  close(lfd);
}

/* A host that accepts but never answers the TLS handshake: cuInit fails within the handshake
 * timeout, as with plain TCP. */
TEST(tls_silent_host_bounded) {
  int port, lfd = listen_tcp(&port);
  char spec[64];
  snprintf(spec, sizeof spec, "tls:127.0.0.1:%d", port);
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  setenv("VGPU_TLS_PIN", "sha256:0000000000000000000000000000000000000000000000000000000000000000", 1);
  setenv("VGPU_HANDSHAKE_TIMEOUT_MS", "200", 1);
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  close(lfd);
}
