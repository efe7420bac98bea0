/*
 * cuGetErrorName / cuGetErrorString: one table of every CUresult in CUDA 13.0's cuda.h.
 */
#include "sg_api.h"

/* X(code, message): the name is the code's own spelling in cuda.h. */
#define SG_ERROR_TABLE \
  X(CUDA_SUCCESS, "no error") \
  X(CUDA_ERROR_INVALID_VALUE, "invalid argument") \
  X(CUDA_ERROR_OUT_OF_MEMORY, "out of memory") \
  X(CUDA_ERROR_NOT_INITIALIZED, "initialization error") \
  X(CUDA_ERROR_DEINITIALIZED, "driver shutting down") \
  X(CUDA_ERROR_PROFILER_DISABLED, "profiler disabled") \
  X(CUDA_ERROR_PROFILER_NOT_INITIALIZED, "profiler not initialized") \
  X(CUDA_ERROR_PROFILER_ALREADY_STARTED, "profiler already started") \
  X(CUDA_ERROR_PROFILER_ALREADY_STOPPED, "profiler already stopped") \
  X(CUDA_ERROR_STUB_LIBRARY, "CUDA driver is a stub library") \
  X(CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER, "the API call requires a newer CUDA driver") \
  X(CUDA_ERROR_DEVICE_UNAVAILABLE, "device unavailable") \
  X(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected") \
  X(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal") \
  X(CUDA_ERROR_DEVICE_NOT_LICENSED, "device not licensed") \
  X(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid") \
  X(CUDA_ERROR_INVALID_CONTEXT, "invalid device context") \
  X(CUDA_ERROR_CONTEXT_ALREADY_CURRENT, "context already current") \
  X(CUDA_ERROR_MAP_FAILED, "map failed") \
  X(CUDA_ERROR_UNMAP_FAILED, "unmap failed") \
  X(CUDA_ERROR_ARRAY_IS_MAPPED, "array is mapped") \
  X(CUDA_ERROR_ALREADY_MAPPED, "already mapped") \
  X(CUDA_ERROR_NO_BINARY_FOR_GPU, "no kernel image is available for execution on the device") \
  X(CUDA_ERROR_ALREADY_ACQUIRED, "already acquired") \
  X(CUDA_ERROR_NOT_MAPPED, "not mapped") \
  X(CUDA_ERROR_NOT_MAPPED_AS_ARRAY, "not mapped as array") \
  X(CUDA_ERROR_NOT_MAPPED_AS_POINTER, "not mapped as pointer") \
  X(CUDA_ERROR_ECC_UNCORRECTABLE, "ECC uncorrectable") \
  X(CUDA_ERROR_UNSUPPORTED_LIMIT, "limit is not supported on this architecture") \
  X(CUDA_ERROR_CONTEXT_ALREADY_IN_USE, "context already in use") \
  X(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED, "peer access unsupported") \
  X(CUDA_ERROR_INVALID_PTX, "a PTX JIT compilation failed") \
  X(CUDA_ERROR_INVALID_GRAPHICS_CONTEXT, "invalid graphics context") \
  X(CUDA_ERROR_NVLINK_UNCORRECTABLE, "NVLink uncorrectable") \
  X(CUDA_ERROR_JIT_COMPILER_NOT_FOUND, "jit compiler not found") \
  X(CUDA_ERROR_UNSUPPORTED_PTX_VERSION, "the provided PTX was compiled with an unsupported toolchain") \
  X(CUDA_ERROR_JIT_COMPILATION_DISABLED, "jit compilation disabled") \
  X(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY, "unsupported exec affinity") \
  X(CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC, "unsupported devside sync") \
  X(CUDA_ERROR_CONTAINED, "contained") \
  X(CUDA_ERROR_INVALID_SOURCE, "invalid source") \
  X(CUDA_ERROR_FILE_NOT_FOUND, "file not found") \
  X(CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND, "shared object symbol not found") \
  X(CUDA_ERROR_SHARED_OBJECT_INIT_FAILED, "shared object init failed") \
  X(CUDA_ERROR_OPERATING_SYSTEM, "OS call failed or operation not supported on this OS") \
  X(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle") \
  X(CUDA_ERROR_ILLEGAL_STATE, "illegal state") \
  X(CUDA_ERROR_LOSSY_QUERY, "lossy query") \
  X(CUDA_ERROR_NOT_FOUND, "named symbol not found") \
  X(CUDA_ERROR_NOT_READY, "device not ready") \
  X(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered") \
  X(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "too many resources requested for launch") \
  X(CUDA_ERROR_LAUNCH_TIMEOUT, "the launch timed out and was terminated") \
  X(CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING, "launch incompatible texturing") \
  X(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED, "peer access already enabled") \
  X(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED, "peer access not enabled") \
  X(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE, "primary context active") \
  X(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context is destroyed") \
  X(CUDA_ERROR_ASSERT, "device-side assert triggered") \
  X(CUDA_ERROR_TOO_MANY_PEERS, "too many peers") \
  X(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "part or all of the requested memory range is already mapped") \
  X(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "pointer does not correspond to a registered memory region") \
  X(CUDA_ERROR_HARDWARE_STACK_ERROR, "hardware stack error") \
  X(CUDA_ERROR_ILLEGAL_INSTRUCTION, "an illegal instruction was encountered") \
  X(CUDA_ERROR_MISALIGNED_ADDRESS, "misaligned address") \
  X(CUDA_ERROR_INVALID_ADDRESS_SPACE, "invalid address space") \
  X(CUDA_ERROR_INVALID_PC, "invalid pc") \
  X(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure") \
  X(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, "cooperative launch too large") \
  X(CUDA_ERROR_TENSOR_MEMORY_LEAK, "tensor memory leak") \
  X(CUDA_ERROR_NOT_PERMITTED, "operation not permitted") \
  X(CUDA_ERROR_NOT_SUPPORTED, "operation not supported") \
  X(CUDA_ERROR_SYSTEM_NOT_READY, "system not ready") \
  X(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, "system driver mismatch") \
  X(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE, "compat not supported on device") \
  X(CUDA_ERROR_MPS_CONNECTION_FAILED, "MPS connection failed") \
  X(CUDA_ERROR_MPS_RPC_FAILURE, "MPS rpc failure") \
  X(CUDA_ERROR_MPS_SERVER_NOT_READY, "MPS server not ready") \
  X(CUDA_ERROR_MPS_MAX_CLIENTS_REACHED, "MPS max clients reached") \
  X(CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED, "MPS max connections reached") \
  X(CUDA_ERROR_MPS_CLIENT_TERMINATED, "MPS client terminated") \
  X(CUDA_ERROR_CDP_NOT_SUPPORTED, "CDP not supported") \
  X(CUDA_ERROR_CDP_VERSION_MISMATCH, "CDP version mismatch") \
  X(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "stream capture unsupported") \
  X(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "stream capture invalidated") \
  X(CUDA_ERROR_STREAM_CAPTURE_MERGE, "stream capture merge") \
  X(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, "stream capture unmatched") \
  X(CUDA_ERROR_STREAM_CAPTURE_UNJOINED, "stream capture unjoined") \
  X(CUDA_ERROR_STREAM_CAPTURE_ISOLATION, "stream capture isolation") \
  X(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "stream capture implicit") \
  X(CUDA_ERROR_CAPTURED_EVENT, "captured event") \
  X(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "stream capture wrong thread") \
  X(CUDA_ERROR_TIMEOUT, "wait operation timed out") \
  X(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, "graph exec update failure") \
  X(CUDA_ERROR_EXTERNAL_DEVICE, "external device") \
  X(CUDA_ERROR_INVALID_CLUSTER_SIZE, "invalid cluster size") \
  X(CUDA_ERROR_FUNCTION_NOT_LOADED, "function not loaded") \
  X(CUDA_ERROR_INVALID_RESOURCE_TYPE, "invalid resource type") \
  X(CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION, "invalid resource configuration") \
  X(CUDA_ERROR_KEY_ROTATION, "key rotation") \
  X(CUDA_ERROR_UNKNOWN, "unknown error") \

typedef struct sg_error_row {
  CUresult code;
  const char *name;
  const char *message;
} sg_error_row;

static const sg_error_row g_errors[] = {
#define X(code, msg) {code, #code, msg},
    SG_ERROR_TABLE
#undef X
};

static const sg_error_row *find_error(CUresult e) {
  for (size_t i = 0; i < sizeof g_errors / sizeof g_errors[0]; i++)
    if (g_errors[i].code == e) return &g_errors[i];
  return NULL;
}

/* Unknown codes give CUDA_ERROR_INVALID_VALUE and *pStr = NULL, as the real driver does. */
SG_EXPORT CUresult cuGetErrorName(CUresult error, const char **pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  const sg_error_row *r = find_error(error);
  *pStr = r ? r->name : NULL;
  return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SG_EXPORT CUresult cuGetErrorString(CUresult error, const char **pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  const sg_error_row *r = find_error(error);
  *pStr = r ? r->message : NULL;
  return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
