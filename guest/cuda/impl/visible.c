/*
 * CUDA_VISIBLE_DEVICES, parsed the way the real driver does: the list is read left to right and
 * ends at the first token that does not name a new device, keeping what came before it (so
 * "0,1,-1,2" shows devices 0 and 1, and "-1" hides every device).
 */
#include "vgcuda.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void vg_uuid_format(const uint8_t u[16], char out[41]) {
  snprintf(out, 41, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
           u[14], u[15]);
}

/* The host index a token names, or -1. */
static int resolve(const char *t, size_t n, int ndev, const uint8_t (*uuids)[16]) {
  while (n && isspace((unsigned char)*t)) t++, n--;
  while (n && isspace((unsigned char)t[n - 1])) n--;
  if (n == 0) return -1;
  if (isdigit((unsigned char)t[0])) {
    long v = 0;
    for (size_t i = 0; i < n; i++) {
      if (!isdigit((unsigned char)t[i])) return -1;
      v = v * 10 + (t[i] - '0');
      if (v >= ndev) return -1;
    }
    return (int)v;
  }
  if (n <= 4 || strncasecmp(t, "GPU-", 4) != 0) return -1;
  int found = -1;
  for (int d = 0; d < ndev; d++) {
    char s[41];
    vg_uuid_format(uuids[d], s);
    if (n > 40 || strncasecmp(s, t, n) != 0) continue;
    if (found >= 0) return -1; /* ambiguous prefix */
    found = d;
  }
  return found;
}

int vg_visible_parse(const char *spec, int ndev, const uint8_t (*uuids)[16], int *map, int cap) {
  int count = 0;
  if (ndev < 0) ndev = 0;
  if (!spec) {
    for (int d = 0; d < ndev && count < cap; d++) map[count++] = d;
    return count;
  }
  const char *p = spec;
  while (*p && count < cap) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    int d = resolve(p, n, ndev, uuids);
    if (d < 0) break;
    for (int i = 0; i < count; i++)
      if (map[i] == d) return count; /* a repeated device ends the list */
    map[count++] = d;
    if (!e) break;
    p = e + 1;
  }
  return count;
}
