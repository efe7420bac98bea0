/*
 * Worker pool for kernel launches: one worker per online CPU (VGPU_SOFTGPU_THREADS overrides),
 * created on the first launch, never in a constructor. Launches are serialised: each one hands
 * out its blocks through an atomic counter to the workers and to the launching thread itself.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "ptx_internal.h"

#define MAX_WORKERS 256

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_launch = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_go = PTHREAD_COND_INITIALIZER, g_done = PTHREAD_COND_INITIALIZER;
static int g_nworkers = 1; /* including the launching thread */
static uint64_t g_gen;
static int g_busy;
static struct {
  sg_pool_fn fn;
  void *arg;
  uint64_t nitems;
  volatile int *stop;
  uint64_t next;
} g_job;

static void work(int worker) {
  for (;;) {
    if (g_job.stop && __atomic_load_n(g_job.stop, __ATOMIC_RELAXED)) return;
    uint64_t i = __atomic_fetch_add(&g_job.next, 1, __ATOMIC_RELAXED);
    if (i >= g_job.nitems) return;
    g_job.fn(g_job.arg, worker, i);
  }
}

static void *worker_main(void *arg) {
  int idx = (int)(intptr_t)arg;
  uint64_t seen = 0;
  pthread_mutex_lock(&g_mu);
  for (;;) {
    while (g_gen == seen) pthread_cond_wait(&g_go, &g_mu);
    seen = g_gen;
    pthread_mutex_unlock(&g_mu);
    work(idx);
    pthread_mutex_lock(&g_mu);
    if (--g_busy == 0) pthread_cond_signal(&g_done);
  }
  return NULL;
}

/* A forked child has only the forking thread: run its launches on that thread alone. */
static void child_after_fork(void) {
  pthread_mutex_init(&g_launch, NULL);
  pthread_mutex_init(&g_mu, NULL);
  pthread_cond_init(&g_go, NULL);
  pthread_cond_init(&g_done, NULL);
  g_nworkers = 1;
  g_busy = 0;
}

static void start_pool(void) {
  pthread_atfork(NULL, NULL, child_after_fork);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  const char *env = getenv("VGPU_SOFTGPU_THREADS");
  if (env && atoi(env) > 0) n = atoi(env);
  if (n < 1) n = 1;
  if (n > MAX_WORKERS) n = MAX_WORKERS;
  int started = 1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (long i = 1; i < n; i++) {
    pthread_t th;
    if (pthread_create(&th, &attr, worker_main, (void *)(intptr_t)i) != 0) break;
    started++;
  }
  pthread_attr_destroy(&attr);
  g_nworkers = started;
}

int sg_pool_workers(void) {
  pthread_once(&g_once, start_pool);
  return g_nworkers;
}

int sg_pool_run(sg_pool_fn fn, void *arg, uint64_t nitems, volatile int *stop) {
  pthread_once(&g_once, start_pool);
  pthread_mutex_lock(&g_launch);
  pthread_mutex_lock(&g_mu);
  g_job.fn = fn;
  g_job.arg = arg;
  g_job.nitems = nitems;
  g_job.stop = stop;
  g_job.next = 0;
  /* Small grids stay on the calling thread: waking workers costs more than they would do. */
  int helpers = nitems > 1 ? g_nworkers - 1 : 0;
  g_busy = helpers;
  if (helpers) {
    g_gen++;
    pthread_cond_broadcast(&g_go);
  }
  pthread_mutex_unlock(&g_mu);
  work(0);
  pthread_mutex_lock(&g_mu);
  while (g_busy > 0) pthread_cond_wait(&g_done, &g_mu);
  pthread_mutex_unlock(&g_mu);
  pthread_mutex_unlock(&g_launch);
  return 0;
}
