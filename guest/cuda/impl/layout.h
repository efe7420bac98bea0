/* Kernel parameter layouts, as the host reports them with each function or kernel lookup. */
#ifndef VG_LAYOUT_H
#define VG_LAYOUT_H

#include <stdint.h>

#include "rpc.h"

typedef struct vg_layout {
  uint32_t n;     /* parameters */
  uint32_t bytes; /* end of the last parameter: the packed buffer's size */
  int library;    /* code of a CUlibrary (a CUkernel, or the CUfunction of one): see launch.c */
  struct { uint32_t offset, size; } p[];
} vg_layout;

/* Reads `u32 n, n x (u32 offset, u32 size)` from a reply; malloc'ed, NULL on a bad layout. */
vg_layout *vg_layout_read(vg_call *c);
/* The layout of a live function or kernel handle, NULL for anything else. */
const vg_layout *vg_layout_of(const void *h);
/* The most parameter bytes a kernel takes (CUDA 12.1+). */
#define VG_MAX_PARAM_BYTES 32764u
/* Packs kernelParams (one pointer per parameter) or `extra` into buf (VG_MAX_PARAM_BYTES long) per
 * the layout; returns the byte count, or -1 when they do not describe the parameters. */
long vg_layout_pack(const vg_layout *l, void **kernelParams, void **extra, uint8_t *buf);

#endif
