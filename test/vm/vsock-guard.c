/*
 * vsock-guard PROGRAM [ARG...]: runs PROGRAM (and everything it starts) unable to create AF_VSOCK
 * sockets. The machines the tests run on may themselves be VMs whose vsock leads to infrastructure
 * that is not ours, so the host-side processes of the VM tests (the mediator and its executors,
 * vhost-device-vsock, QEMU) run under this seccomp filter: socket() and socketpair() with
 * AF_VSOCK fail with EPERM instead of reaching the host's vsock. Guests use AF_VSOCK inside QEMU,
 * where it goes to the user-space vsock backend, never to this machine's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
/* The family refused. Only test/mediator/vsock-channel.test.ts changes it, to check the filter
 * with a family the kernel no longer has (AF_IPX), so that even a broken filter opens nothing. */
#ifndef VG_GUARD_FAMILY
#define VG_GUARD_FAMILY AF_VSOCK
#endif
#define X32_SYSCALL_BIT 0x40000000u

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: vsock-guard PROGRAM [ARG...]\n");
    return 2;
  }
  struct sock_filter filter[] = {
      /* Only the x86-64 ABI: i386 and x32 system calls number sockets differently, so they are
       * refused whole (no test process uses them). */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 0, 3),
      /* args[0], the address family: its low 32 bits are the int the caller passed. */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VG_GUARD_FAMILY, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "vsock-guard: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
    return 125;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    fprintf(stderr, "vsock-guard: PR_SET_SECCOMP: %s\n", strerror(errno));
    return 125;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "vsock-guard: %s: %s\n", argv[1], strerror(errno));
  return 127;
}
