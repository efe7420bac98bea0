// nvcc -ptx -rdc=true -arch=sm_90 cdp.cu -o ../cdp.ptx
// Dynamic parallelism: a kernel that launches a kernel on a stream it creates and reads the device
// runtime's last error. nvcc 13 compiles each device-runtime call to an .extern .func
// __cudaCDP2<Name> (the launch to __cudaCDP2GetParameterBufferV2 + __cudaCDP2LaunchDeviceV2) that
// only libcudadevrt, linked by nvcc -rdc, defines; softgpu has no device runtime and refuses the
// module at load as a driver's JIT does for an unresolved extern function.
__global__ void child(int *p) { p[threadIdx.x] += 1; }
__global__ void parent(int *p) {
  if (threadIdx.x == 0) {
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    child<<<1, 4, 0, s>>>(p);
    cudaStreamDestroy(s);
    p[5] = (int)cudaGetLastError();
  }
}
// A kernel that needs no device runtime, in the same module: the whole module is refused.
__global__ void plain(int *p) { p[threadIdx.x] = 7; }
