/*
 * Coherent host memory (coherent.c, docs/managed-memory.md): managed memory and mapped
 * page-locked memory, whose bytes the guest and the device both hold and which agree at the
 * points CUDA guarantees it. Plain C: the generated stubs include it too.
 */
#ifndef VG_COHERENT_H
#define VG_COHERENT_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

typedef enum vg_coh_kind {
  VG_COH_MANAGED = 1,    /* cuMemAllocManaged: host and device address are one */
  VG_COH_MAPPED = 2,     /* cuMemHostAlloc(DEVICEMAP): host and device address are one */
  VG_COH_REGISTERED = 3  /* cuMemHostRegister(DEVICEMAP): the device address is its own */
} vg_coh_kind;

typedef struct vg_coh_info {
  uintptr_t host;
  CUdeviceptr dev;
  size_t size;
  vg_coh_kind kind;
  CUcontext ctx;
  unsigned long long id; /* CU_POINTER_ATTRIBUTE_BUFFER_ID of managed memory */
} vg_coh_info;

#include "managed_advice.h"

/* Works on the advice records of some pages of one managed allocation. */
typedef CUresult (*vg_coh_pages_fn)(vg_advice_page *pages, size_t n, void *arg);

/* A new coherent allocation of bytesize bytes (managed or mapped), zero-filled, at an address that
 * is both its host and its device address. */
CUresult vg_coherent_alloc(void **pp, size_t bytesize, vg_coh_kind kind);
/* Makes the driver's managed allocation [base, base+size) holding a module's __managed__ variables
 * coherent memory: the guest's copy mapped at the same address, holding `initial` (the device's
 * bytes, which the executor's shadow holds too). The module or library `owner` (a handle of kind
 * owner_kind) frees it; once that handle is gone the range is dropped. Adopting a range already
 * adopted succeeds and keeps the host's copy. */
CUresult vg_coherent_adopt(CUdeviceptr base, size_t size, const void *initial, const void *owner, int owner_kind);
/* Gives the program's [p, p+bytesize) a device copy (cuMemHostRegister with DEVICEMAP). */
CUresult vg_coherent_register(void *p, size_t bytesize);
/* Frees the range whose host address is p, of kind `kind`; 0 when there is none. */
int vg_coherent_release_host(void *p, vg_coh_kind kind);
/* For cuMemFree and cuMemFreeAsync: 1 and *res when dptr is coherent memory's device address (a
 * managed allocation is freed by cuMemFree, refused by the stream-ordered free; the device side of
 * mapped memory is refused by both), 0 for any other pointer. */
int vg_coherent_free_hook(CUdeviceptr dptr, int stream_ordered, CUresult *res);
/* Forgets the coherent memory of a context the driver destroyed (its device memory went with it). */
void vg_coherent_context_gone(CUcontext ctx);
/* 1 and *out when p lies in a coherent range, by its host (by_dev 0) or device address. */
int vg_coherent_lookup(uintptr_t p, int by_dev, vg_coh_info *out);
/* Runs fn on the page records of [p, p+n) of one managed allocation; INVALID_VALUE otherwise. */
CUresult vg_coherent_pages(CUdeviceptr p, size_t n, vg_coh_pages_fn fn, void *arg);

#endif
