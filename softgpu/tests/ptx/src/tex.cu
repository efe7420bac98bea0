// nvcc -ptx -arch=sm_75 tex.cu -o ../tex.ptx
// Texture and surface objects: not implemented, but the module loads and only they fail.
extern "C" __global__ void t2d(cudaTextureObject_t t, float *o) { o[threadIdx.x] = tex2D<float>(t, threadIdx.x, 0.5f); }
extern "C" __global__ void s2d(cudaSurfaceObject_t s, float *o) { float v; surf2Dread(&v, s, threadIdx.x * 4, 0); o[threadIdx.x] = v; }
extern "C" __global__ void plain(float *o) { o[threadIdx.x] = 1.0f; }
