/* socket-probe FAMILY: tries socket(FAMILY, SOCK_STREAM, 0) and prints 0 or the errno. Used by
 * test/mediator/vsock-channel.test.ts with AF_UNIX and AF_IPX only, never with AF_VSOCK. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int family = atoi(argv[1]);
  if (family == 40) return 2; /* AF_VSOCK: never on the test machines */
  int fd = socket(family, SOCK_STREAM, 0);
  printf("%d\n", fd < 0 ? errno : 0);
  if (fd >= 0) close(fd);
  return 0;
}
