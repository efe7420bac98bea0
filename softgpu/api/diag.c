/*
 * The engine explains its failures (which line of PTX failed to parse, which instruction of which
 * thread faulted); CUDA's API has no place for that text, so the last message is kept per thread
 * and the host can read it with sg_softgpu_last_error().
 */
#include "sg_module.h"

#include <stdio.h>

static _Thread_local char t_msg[512];

void sg_diag_set(const char *msg) { snprintf(t_msg, sizeof t_msg, "%s", msg ? msg : ""); }

/* Copies the message (possibly empty) into buf; returns its full length. */
SG_EXPORT size_t sg_softgpu_last_error(char *buf, size_t len) {
  int n = snprintf(buf, buf ? len : 0, "%s", t_msg);
  return n < 0 ? 0 : (size_t)n;
}
