/*
 * Abandoning the process's kernel work: what a GPU does to a context whose process is gone.
 *
 * The executor serving a guest calls softgpu from its one JavaScript thread, and a long kernel
 * keeps that thread inside cuLaunchKernel: until the kernel is over it can see neither its guest
 * go away nor the mediator's order to end the session. So the watching is done here, by a thread
 * of its own that sleeps in poll(2) on the guest's connection (the peer hanging up) and on a
 * control descriptor (a byte, or its writers all gone; the executor passes its cancel FIFO, which
 * it holds a writer of itself, so that only a byte counts). Either sets the flag the PTX
 * engine checks between blocks, between thread slices and inside long loops (ptx_sched.c,
 * ptx_exec.c); the launch then returns CUDA_ERROR_LAUNCH_TIMEOUT and poisons its context, as a
 * GPU's watchdog does. The flag stays set: every later launch fails at once, since the process
 * is about to end its session anyway.
 *
 * Why not koffi's asynchronous calls, so that the executor's event loop sees the connection
 * close? Every launch would pay a thread hop and a promise, on the hot path (tens of thousands
 * of fire-and-forget launches a second), and the serving loop would no longer run calls in
 * order by itself. A thread asleep in poll costs nothing per call, and needs no change on the
 * real driver's side: there launches are asynchronous, so the executor's event loop stays free.
 */
#include "sg_module.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static sg_ptx_cancel g_cancel;
/* CLOCK_MONOTONIC ns of the first request (0: none), launches abandoned, and the longest time a
 * running launch took to stop after the request: for the host's record (sg_softgpu_cancel_stats). */
static uint64_t g_requested_ns, g_abandoned, g_stop_ns;

uint64_t sg_cancel_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

sg_ptx_cancel *sg_cancel_state(void) { return &g_cancel; }

/* Called for each launch that returned SG_PTX_ERR_CANCELLED; `started` is when it began. */
void sg_cancel_abandoned(uint64_t started) {
  __atomic_add_fetch(&g_abandoned, 1, __ATOMIC_SEQ_CST);
  uint64_t req = __atomic_load_n(&g_requested_ns, __ATOMIC_SEQ_CST);
  if (req == 0 || req < started) return; /* refused at once: it was not running when asked */
  uint64_t took = sg_cancel_clock() - req, cur = __atomic_load_n(&g_stop_ns, __ATOMIC_SEQ_CST);
  while (took > cur && !__atomic_compare_exchange_n(&g_stop_ns, &cur, took, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
}

static void request(void) {
  uint64_t none = 0;
  /* The time first, so that a launch that sees the flag also sees when it was raised. */
  __atomic_compare_exchange_n(&g_requested_ns, &none, sg_cancel_clock(), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_cancel.requested, 1, __ATOMIC_SEQ_CST);
}

/* With cancel != 0, abandons the kernel work of the whole process: the launch running now stops
 * at its next check and every later one fails at once (CUDA_ERROR_LAUNCH_TIMEOUT, sticky). 0 lets
 * launches run again and clears the record (tests; a context poisoned meanwhile stays so).
 * Callable from any thread. Returns 0. */
SG_EXPORT int sg_softgpu_cancel(int cancel) {
  if (cancel) {
    request();
    return 0;
  }
  __atomic_store_n(&g_cancel.requested, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_cancel.blocks_after, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_requested_ns, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_abandoned, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_stop_ns, 0, __ATOMIC_SEQ_CST);
  return 0;
}

/* What cancelling did, for the host's log: out[0] 1 once cancelled, out[1] launches abandoned,
 * out[2] blocks that still ran to their end after the request, out[3] the longest time (ns) a
 * running launch took to stop after it. Returns 0, or -1 for a NULL out. */
SG_EXPORT int sg_softgpu_cancel_stats(uint64_t out[4]) {
  if (!out) return -1;
  out[0] = (uint64_t)__atomic_load_n(&g_cancel.requested, __ATOMIC_SEQ_CST);
  out[1] = __atomic_load_n(&g_abandoned, __ATOMIC_SEQ_CST);
  out[2] = __atomic_load_n(&g_cancel.blocks_after, __ATOMIC_SEQ_CST);
  out[3] = __atomic_load_n(&g_stop_ns, __ATOMIC_SEQ_CST);
  return 0;
}

/* ---- the watcher thread ------------------------------------------------------------------------ */

static pthread_once_t g_watch_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_watch_mu = PTHREAD_MUTEX_INITIALIZER;
/* Our own duplicates of the watched descriptors (-1: none) and the pipe that stops the thread. */
static struct {
  int running;
  pthread_t thread;
  int guest, control, stop[2];
} g_watch = {0, 0, -1, -1, {-1, -1}};

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void close_all(void) {
  close_fd(&g_watch.guest);
  close_fd(&g_watch.control);
  close_fd(&g_watch.stop[0]);
  close_fd(&g_watch.stop[1]);
}

/* A forked child has no watcher thread: forget it (the copies of its descriptors are the child's). */
static void child_after_fork(void) {
  pthread_mutex_init(&g_watch_mu, NULL);
  g_watch.running = 0;
  close_all();
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, child_after_fork); }

static void *watch_main(void *arg) {
  (void)arg;
  struct pollfd p[3] = {
      /* Only a hang-up: the guest's requests are the executor's to read. */
      {.fd = g_watch.guest, .events = POLLRDHUP},
      /* Any byte, or every writer gone. */
      {.fd = g_watch.control, .events = POLLIN},
      {.fd = g_watch.stop[0], .events = POLLIN},
  };
  for (;;) {
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return NULL; /* cannot watch: launches just run to their end, as without a watcher */
    }
    if (p[2].revents) return NULL;
    if (p[0].revents || p[1].revents) {
      request();
      return NULL; /* nothing left to watch for: the flag stays set */
    }
  }
}

/* Must hold g_watch_mu. */
static void stop_locked(void) {
  if (g_watch.running) {
    char b = 1;
    while (write(g_watch.stop[1], &b, 1) < 0 && errno == EINTR) {
    }
    pthread_join(g_watch.thread, NULL);
    g_watch.running = 0;
  }
  close_all();
}

static int dup_or_none(int fd, int *out) {
  *out = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return fd >= 0 && *out < 0 ? -1 : 0;
}

/* Cancels the process's kernel work (as sg_softgpu_cancel(1)) once the peer of `guest_fd` hangs up
 * or `control_fd` becomes readable or hangs up, watching from a thread of its own. Either may be
 * -1; both -1 stops watching. Replaces an earlier watch. The descriptors are duplicated, so the
 * caller may close its own. Returns 0, or -1 with errno set (nothing is watched then). */
SG_EXPORT int sg_softgpu_watch(int guest_fd, int control_fd) {
  pthread_once(&g_watch_once, register_atfork);
  pthread_mutex_lock(&g_watch_mu);
  stop_locked();
  int rc = 0;
  if (guest_fd >= 0 || control_fd >= 0) {
    if (dup_or_none(guest_fd, &g_watch.guest) || dup_or_none(control_fd, &g_watch.control) ||
        pipe2(g_watch.stop, O_CLOEXEC) != 0) {
      rc = -1;
    } else {
      /* The thread takes no signals: they are the host process's (Node's) to handle. */
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, &old);
      int e = pthread_create(&g_watch.thread, NULL, watch_main, NULL);
      pthread_sigmask(SIG_SETMASK, &old, NULL);
      if (e != 0) {
        errno = e;
        rc = -1;
      } else {
        g_watch.running = 1;
      }
    }
    if (rc != 0) {
      int e = errno;
      close_all();
      errno = e;
    }
  }
  pthread_mutex_unlock(&g_watch_mu);
  return rc;
}
