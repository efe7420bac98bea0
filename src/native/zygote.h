/*
 * The executor zygote's system calls (docs/executors.md, "Zygote"). Node has no fork(), and a forked
 * Node process needs two repairs before JavaScript runs again in it: V8 marks its heap pages
 * MADV_DONTFORK (the child would have no heap: it crashes on its first bytecode), and libuv's event
 * loop shares its epoll instance with the parent until uv_loop_fork(). The descriptor passing is how
 * the mediator hands a guest's connection straight to a forked executor, which has no IPC channel.
 */
#ifndef VG_ZYGOTE_H
#define VG_ZYGOTE_H

#define VG_ZY_EXPORT __attribute__((visibility("default")))

/* A connected pair of Unix stream sockets (close-on-exec) in fds[0], fds[1]; 0 or -errno. */
VG_ZY_EXPORT int vg_zy_socketpair(int fds[2]);

/* Forks this process. In the parent: the child's pid, or -errno. In the child: 0, after it has
 * become a session leader (its own process group, as every executor) and, inside Node, after the
 * default event loop has been re-created (uv_loop_fork). A child whose loop cannot be re-created
 * exits with status 121 before returning. */
VG_ZY_EXPORT int vg_zy_fork(void);

/* Reaps one exited child without waiting: its pid (with its exit code in *code, or the signal that
 * ended it in *sig, the other -1), 0 when none has exited, or -errno (-ECHILD: no children). */
VG_ZY_EXPORT int vg_zy_reap(int *code, int *sig);

/* Sends descriptor fd over the Unix socket sock (one byte carries it); 0 or -errno. */
VG_ZY_EXPORT int vg_zy_send_fd(int sock, int fd);

/* Receives one descriptor sent by vg_zy_send_fd, waiting up to timeout_ms: the descriptor
 * (close-on-exec), or -ETIMEDOUT, -EPIPE when the peer has closed, -EBADMSG when what arrived
 * carried no descriptor (extra descriptors are closed), or another -errno. */
VG_ZY_EXPORT int vg_zy_recv_fd(int sock, int timeout_ms);

/* Ends the process now, without Node's teardown: in a forked Node that teardown waits forever for
 * V8 platform threads that only the zygote has (docs/executors.md, "Zygote"). */
VG_ZY_EXPORT void vg_zy_exit(int code);

/* A close-on-exec duplicate of fd, or -errno. */
VG_ZY_EXPORT int vg_zy_dup(int fd);

VG_ZY_EXPORT int vg_zy_close(int fd);
VG_ZY_EXPORT int vg_zy_getpid(void);

#endif
