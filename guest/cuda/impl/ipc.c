/*
 * CUDA IPC between processes of one VM (cuIpcGetMemHandle, cuIpcOpenMemHandle, ...), forwarded by
 * hand because the handles are 64-byte structs passed by value: they travel as 64 raw bytes. The
 * handle a program gets is the host's token for its export, not the driver's bytes; the executor
 * of the process that opens it asks the mediator for what it stands for, which answers only within
 * the VM (src/executor/custom/ipc.ts, docs/ipc.md). Every process of the VM has a session of its
 * own, so a handle may be passed to any of them, as on a local GPU.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vgcuda.h"

#include "rpc.h"

static CUresult begin(vg_call *c, uint32_t op) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  return vg_call_begin(c, op, 0);
}

/* Reads a 64-byte handle from the reply (raw bytes, read as eight little-endian words). */
static void get_handle(vg_call *c, char out[CU_IPC_HANDLE_SIZE]) {
  for (int i = 0; i < CU_IPC_HANDLE_SIZE / 8; i++) {
    uint64_t w = vg_get_u64(c);
    memcpy(out + 8 * i, &w, 8);
  }
}

static CUresult get_mem_handle(CUipcMemHandle *pHandle, CUdeviceptr dptr) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuIpcGetMemHandle);
  if (r) return r;
  if (!pHandle) return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  vg_put_u64(&c, dptr);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) get_handle(&c, pHandle->reserved);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr) {
  VG_TRACED(get_mem_handle(pHandle, dptr));
}

static CUresult open_mem_handle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuIpcOpenMemHandle_v2);
  if (r) return r;
  if (!pdptr) return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  vg_put_raw(&c, handle.reserved, CU_IPC_HANDLE_SIZE);
  vg_put_u32(&c, Flags);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *pdptr = (CUdeviceptr)vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  VG_TRACED(open_mem_handle(pdptr, handle, Flags));
}

/* The name CUDA 4.x programs link against; cuda.h maps it to _v2, which takes the same arguments. */
VG_EXPORT CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  VG_TRACED(open_mem_handle(pdptr, handle, Flags));
}

static CUresult close_mem_handle(CUdeviceptr dptr) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuIpcCloseMemHandle);
  if (r) return r;
  vg_put_u64(&c, dptr);
  r = vg_call_invoke(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuIpcCloseMemHandle(CUdeviceptr dptr) {
  VG_TRACED(close_mem_handle(dptr));
}

static CUresult get_event_handle(CUipcEventHandle *pHandle, CUevent event) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuIpcGetEventHandle);
  if (r) return r;
  if (!pHandle) return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  vg_put_handle(&c, VG_H_EVENT, event, 0);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) get_handle(&c, pHandle->reserved);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuIpcGetEventHandle(CUipcEventHandle *pHandle, CUevent event) {
  VG_TRACED(get_event_handle(pHandle, event));
}

static CUresult open_event_handle(CUevent *phEvent, CUipcEventHandle handle) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuIpcOpenEventHandle);
  if (r) return r;
  if (!phEvent) return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  vg_put_raw(&c, handle.reserved, CU_IPC_HANDLE_SIZE);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *phEvent = (CUevent)vg_get_new_handle(&c, VG_H_EVENT);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuIpcOpenEventHandle(CUevent *phEvent, CUipcEventHandle handle) {
  VG_TRACED(open_event_handle(phEvent, handle));
}

/* ---- shareable handles of the virtual memory management API ------------------------------------
 * cuMemExportToShareableHandle gives the program a file descriptor it may pass to another process
 * of its VM (over a Unix socket, SCM_RIGHTS), which imports it. The descriptor is a small memory
 * file holding a magic word and the host's token for the export; the importing process's library
 * reads the token back from the descriptor it received, and its executor asks the mediator what
 * it stands for, which answers only within the VM (docs/ipc.md). */

#define SHARE_MAGIC "vgpushm1"
#define SHARE_MAGIC_LEN 8

static CUresult export_shareable(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                 CUmemAllocationHandleType handleType, unsigned long long flags) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemExportToShareableHandle);
  if (r) return r;
  if (!shareableHandle) return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  vg_put_u64(&c, handle);
  vg_put_u32(&c, (uint32_t)handleType);
  vg_put_u64(&c, flags);
  r = vg_call_invoke(&c);
  char token[CU_IPC_HANDLE_SIZE];
  if (r == CUDA_SUCCESS) get_handle(&c, token);
  r = vg_call_end(&c, r);
  if (r) return r;
  int fd = memfd_create("vgpu-shareable-handle", MFD_CLOEXEC);
  if (fd < 0) return CUDA_ERROR_OUT_OF_MEMORY;
  char file[SHARE_MAGIC_LEN + CU_IPC_HANDLE_SIZE];
  memcpy(file, SHARE_MAGIC, SHARE_MAGIC_LEN);
  memcpy(file + SHARE_MAGIC_LEN, token, CU_IPC_HANDLE_SIZE);
  if (pwrite(fd, file, sizeof file, 0) != (ssize_t)sizeof file) {
    close(fd);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *(int *)shareableHandle = fd;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                                CUmemAllocationHandleType handleType, unsigned long long flags) {
  VG_TRACED(export_shareable(shareableHandle, handle, handleType, flags));
}

static CUresult import_shareable(CUmemGenericAllocationHandle *handle, void *osHandle,
                                 CUmemAllocationHandleType shHandleType) {
  vg_call c;
  CUresult r = begin(&c, VG_OP_cuMemImportFromShareableHandle);
  if (r) return r;
  if (!handle) return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  /* Only a descriptor this library made carries a token; anything else is not a handle. */
  char file[SHARE_MAGIC_LEN + CU_IPC_HANDLE_SIZE];
  int fd = (int)(intptr_t)osHandle;
  if (shHandleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR &&
      (fd < 0 || pread(fd, file, sizeof file, 0) != (ssize_t)sizeof file || memcmp(file, SHARE_MAGIC, SHARE_MAGIC_LEN) != 0))
    return vg_call_end(&c, CUDA_ERROR_INVALID_VALUE);
  if (shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) memset(file, 0, sizeof file);
  vg_put_raw(&c, file + SHARE_MAGIC_LEN, CU_IPC_HANDLE_SIZE);
  vg_put_u32(&c, (uint32_t)shHandleType);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *handle = (CUmemGenericAllocationHandle)vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle,
                                                  CUmemAllocationHandleType shHandleType) {
  VG_TRACED(import_shareable(handle, osHandle, shHandleType));
}
