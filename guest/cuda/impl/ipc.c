/*
 * CUDA IPC between processes of one VM (cuIpcGetMemHandle, cuIpcOpenMemHandle, ...), forwarded by
 * hand because the handles are 64-byte structs passed by value: they travel as 64 raw bytes. The
 * handle a program gets is the host's token for its export, not the driver's bytes; the executor
 * of the process that opens it asks the mediator for what it stands for, which answers only within
 * the VM (src/executor/custom/ipc.ts, docs/ipc.md). Every process of the VM has a session of its
 * own, so a handle may be passed to any of them, as on a local GPU.
 */
#include <string.h>

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
