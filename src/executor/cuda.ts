// The CUresult values the host code produces itself (the rest pass through from the driver).

export const CUDA_SUCCESS = 0;
export const CUDA_ERROR_INVALID_VALUE = 1;
export const CUDA_ERROR_OUT_OF_MEMORY = 2;
export const CUDA_ERROR_NOT_INITIALIZED = 3;
export const CUDA_ERROR_NO_DEVICE = 100;
export const CUDA_ERROR_INVALID_DEVICE = 101;
export const CUDA_ERROR_INVALID_IMAGE = 200;
export const CUDA_ERROR_INVALID_CONTEXT = 201;
export const CUDA_ERROR_MAP_FAILED = 205;
export const CUDA_ERROR_INVALID_HANDLE = 400;
export const CUDA_ERROR_NOT_FOUND = 500;
export const CUDA_ERROR_NOT_READY = 600;
export const CUDA_ERROR_CONTEXT_IS_DESTROYED = 709;
export const CUDA_ERROR_NOT_SUPPORTED = 801;
export const CUDA_ERROR_UNKNOWN = 999;

/** A CUDA error raised by a host-side check; the call fails with `code` and the session goes on. */
export class CudaError extends Error {
  override readonly name = 'CudaError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
