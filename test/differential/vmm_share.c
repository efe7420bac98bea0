/*
 * Differential cases (docs/testing.md): shareable handles of the virtual memory management API.
 * The parent creates a physical allocation that may be exported as a file descriptor, maps and
 * fills it, exports it and starts itself again as the child (fork and exec), sending the
 * descriptor over a Unix socket (SCM_RIGHTS), as programs pass these between processes. The child
 * imports it, maps it into a reservation of its own, checks the parent's bytes and writes its own,
 * which the parent then sees. Errors: null arguments, flags, an allocation not made shareable,
 * descriptors that are no export.
 *   vmm_share            (the parent)
 *   vmm_share child FD   (FD: its end of the socket)
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"

typedef __typeof__(&cuInit) init_t;
typedef __typeof__(&cuDeviceGet) device_get_t;
typedef __typeof__(&cuDevicePrimaryCtxRetain) retain_t;
typedef __typeof__(&cuCtxSetCurrent) set_current_t;
typedef __typeof__(&cuMemAddressReserve) reserve_t;
typedef __typeof__(&cuMemAddressFree) addr_free_t;
typedef __typeof__(&cuMemCreate) create_t;
typedef __typeof__(&cuMemRelease) release_t;
typedef __typeof__(&cuMemMap) map_t;
typedef __typeof__(&cuMemUnmap) unmap_t;
typedef __typeof__(&cuMemSetAccess) set_access_t;
typedef __typeof__(&cuMemsetD32_v2) memset32_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuMemGetAllocationPropertiesFromHandle) props_t;
typedef __typeof__(&cuMemExportToShareableHandle) export_t;
typedef __typeof__(&cuMemImportFromShareableHandle) import_t;

#define SIZE ((size_t)2 << 20)
#define WORDS (SIZE / 4)
#define PARENT_WORD 0x0badcafeu
#define CHILD_WORD 0x600dd00du

static void context(void) {
  CUdevice dev;
  CUcontext ctx;
  MUST(((init_t)diff_sym("cuInit"))(0));
  MUST(((device_get_t)diff_sym("cuDeviceGet"))(&dev, 0));
  MUST(((retain_t)diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, dev));
  MUST(((set_current_t)diff_sym("cuCtxSetCurrent"))(ctx));
}

static CUmemAllocationProp prop(int shareable) {
  CUmemAllocationProp p;
  memset(&p, 0, sizeof p);
  p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  p.location.id = 0;
  if (shareable) p.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  return p;
}

/* Reserves, maps h and grants read-write access; returns the address. */
static CUdeviceptr map(CUmemGenericAllocationHandle h) {
  CUdeviceptr va = 0;
  MUST(((reserve_t)diff_sym("cuMemAddressReserve"))(&va, SIZE, 0, 0, 0));
  MUST(((map_t)diff_sym("cuMemMap"))(va, SIZE, 0, h, 0));
  CUmemAccessDesc a;
  memset(&a, 0, sizeof a);
  a.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  a.location.id = 0;
  a.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  MUST(((set_access_t)diff_sym("cuMemSetAccess"))(va, SIZE, &a, 1));
  return va;
}

static void unmap(CUdeviceptr va) {
  MUST(((unmap_t)diff_sym("cuMemUnmap"))(va, SIZE));
  MUST(((addr_free_t)diff_sym("cuMemAddressFree"))(va, SIZE));
}

static int all_words(CUdeviceptr p, uint32_t word) {
  uint32_t *h = malloc(SIZE);
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(h, p, SIZE));
  int ok = 1;
  for (size_t i = 0; i < WORDS; i++) ok &= h[i] == word;
  free(h);
  return ok;
}

static int send_fd(int sock, int fd) {
  char byte = 'h';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  if (recvmsg(sock, &m, 0) != 1) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static int child(int sock) {
  int fd = recv_fd(sock);
  if (fd < 0) return 2;
  context();
  CUmemGenericAllocationHandle h = 0;
  CALL(cuMemImportFromShareableHandle, import_t, "null handle", NULL, (void *)(intptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  int other = memfd_create("not-an-export", 0);
  if (other < 0 || write(other, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 80) != 80) return 2;
  CALL(cuMemImportFromShareableHandle, import_t, "a file that is no export", &h, (void *)(intptr_t)other, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  close(other);
  CALL(cuMemImportFromShareableHandle, import_t, "the parent's descriptor", &h, (void *)(intptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  close(fd); /* the imported handle does not need it */
  CUmemAllocationProp p;
  CALL(cuMemGetAllocationPropertiesFromHandle, props_t, "imported", &p, h);
  SAY(cuMemGetAllocationPropertiesFromHandle, "imported is on device 0 and shareable", "%d",
      p.location.type == CU_MEM_LOCATION_TYPE_DEVICE && p.location.id == 0 && p.requestedHandleTypes == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  CUdeviceptr va = map(h);
  SAY(cuMemImportFromShareableHandle, "sees the parent's words", "%d", all_words(va, PARENT_WORD));
  CALL(cuMemsetD32_v2, memset32_t, "imported memory", va, CHILD_WORD, WORDS);
  unmap(va);
  CALL(cuMemRelease, release_t, "imported", h);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) return child(atoi(argv[2]));
  if (argc != 1) {
    fprintf(stderr, "usage: vmm_share\n");
    return 2;
  }
  int fd = -1;
  CALL(cuMemExportToShareableHandle, export_t, "before cuInit", &fd, 1, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  context();
  CUmemAllocationProp shared = prop(1), plain = prop(0);
  CUmemGenericAllocationHandle h = 0, p = 0;
  MUST(((create_t)diff_sym("cuMemCreate"))(&h, SIZE, &shared, 0));
  MUST(((create_t)diff_sym("cuMemCreate"))(&p, SIZE, &plain, 0));
  CUdeviceptr va = map(h);
  MUST(((memset32_t)diff_sym("cuMemsetD32_v2"))(va, PARENT_WORD, WORDS));

  CALL(cuMemExportToShareableHandle, export_t, "null out", NULL, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  CALL(cuMemExportToShareableHandle, export_t, "flags", &fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 1);
  CALL(cuMemExportToShareableHandle, export_t, "not made shareable", &fd, p, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  CALL(cuMemExportToShareableHandle, export_t, "shareable", &fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  SAY(cuMemExportToShareableHandle, "gives a descriptor", "%d", fd >= 0);

  /* Imported in the exporting process itself: another reference to the same memory. */
  CUmemGenericAllocationHandle again = 0;
  CALL(cuMemImportFromShareableHandle, import_t, "in the exporting process", &again, (void *)(intptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  CALL(cuMemRelease, release_t, "imported in the exporting process", again);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 4;
  char arg[16];
  snprintf(arg, sizeof arg, "%d", sv[1]);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    execl("/proc/self/exe", argv[0], "child", arg, (char *)NULL);
    _exit(127);
  }
  close(sv[1]);
  int status = 0;
  if (pid < 0 || send_fd(sv[0], fd) != 0 || waitpid(pid, &status, 0) != pid) {
    printf("setup failed: no child\n");
    return 4;
  }
  close(fd);
  SAY(cuMemImportFromShareableHandle, "child exit status", "%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  SAY(cuMemImportFromShareableHandle, "the parent sees the child's words", "%d", all_words(va, CHILD_WORD));
  unmap(va);
  CALL(cuMemRelease, release_t, "exported", h);
  CALL(cuMemRelease, release_t, "not made shareable", p);
  return 0;
}
