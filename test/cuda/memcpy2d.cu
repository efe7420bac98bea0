// 2D and 3D copies the way image and video code writes them: cudaMallocPitch, cudaMemcpy2D in and
// out around a kernel that works on the pitched rows, cudaMemcpy2DAsync on a stream, and
// cudaMemcpy3D of a small volume. Every byte checked against the CPU, the host padding untouched.
#include <stdlib.h>
#include <string.h>

#include "check.h"

__global__ void invert(unsigned char *img, size_t pitch, int w, int h) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
  if (x < w && y < h) img[y * pitch + x] = 255 - img[y * pitch + x];
}

int main() {
  const int w = 300, h = 40, hp = 320; // host rows hp bytes apart
  unsigned char *in = (unsigned char *)malloc(hp * h), *out = (unsigned char *)malloc(hp * h);
  for (int i = 0; i < hp * h; i++) in[i] = (unsigned char)(i * 13 + 7);
  memset(out, 0xee, hp * h);
  unsigned char *d;
  size_t pitch = 0;
  OK("cudaMallocPitch", cudaMallocPitch((void **)&d, &pitch, w, h));
  CHECK("the pitch covers a row", pitch >= (size_t)w);
  OK("cudaMemcpy2D host to device", cudaMemcpy2D(d, pitch, in, hp, w, h, cudaMemcpyHostToDevice));
  invert<<<dim3((w + 127) / 128, h), 128>>>(d, pitch, w, h);
  OK("kernel on pitched rows", cudaGetLastError());
  OK("cudaMemcpy2D device to host", cudaMemcpy2D(out, hp, d, pitch, w, h, cudaMemcpyDeviceToHost));
  bool ok = true, pad = true;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < hp; x++) {
      if (x < w) ok = ok && out[y * hp + x] == (unsigned char)(255 - in[y * hp + x]);
      else pad = pad && out[y * hp + x] == 0xee;
    }
  CHECK("every pixel inverted", ok);
  CHECK("the host padding between rows untouched", pad);

  // Device to device into a second pitched image, then back through a stream.
  unsigned char *e;
  size_t epitch = 0;
  OK("cudaMallocPitch 2", cudaMallocPitch((void **)&e, &epitch, w, h));
  OK("cudaMemcpy2D device to device", cudaMemcpy2D(e, epitch, d, pitch, w, h, cudaMemcpyDeviceToDevice));
  cudaStream_t s;
  OK("stream", cudaStreamCreate(&s));
  memset(out, 0, hp * h);
  OK("cudaMemcpy2DAsync device to host", cudaMemcpy2DAsync(out, hp, e, epitch, w, h, cudaMemcpyDeviceToHost, s));
  OK("stream sync", cudaStreamSynchronize(s));
  ok = true;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) ok = ok && out[y * hp + x] == (unsigned char)(255 - in[y * hp + x]);
  CHECK("device to device, then async to host", ok);
  EXPECT("pitch below the width", cudaMemcpy2D(d, w - 1, in, hp, w, h, cudaMemcpyHostToDevice), cudaErrorInvalidPitchValue);

  // A 3D volume: 8 x 6 x 4 floats through cudaMalloc3D and cudaMemcpy3D both ways.
  const int vx = 8, vy = 6, vz = 4;
  float vol[vz][vy][vx], back[vz][vy][vx];
  for (int z = 0; z < vz; z++)
    for (int y = 0; y < vy; y++)
      for (int x = 0; x < vx; x++) vol[z][y][x] = z * 100.0f + y * 10.0f + x, back[z][y][x] = -1;
  cudaPitchedPtr dv;
  cudaExtent ext = make_cudaExtent(vx * sizeof(float), vy, vz);
  OK("cudaMalloc3D", cudaMalloc3D(&dv, ext));
  cudaMemcpy3DParms up = {};
  up.srcPtr = make_cudaPitchedPtr(vol, vx * sizeof(float), vx, vy);
  up.dstPtr = dv;
  up.extent = ext;
  up.kind = cudaMemcpyHostToDevice;
  OK("cudaMemcpy3D host to device", cudaMemcpy3D(&up));
  cudaMemcpy3DParms down = {};
  down.srcPtr = dv;
  down.dstPtr = make_cudaPitchedPtr(back, vx * sizeof(float), vx, vy);
  down.extent = ext;
  down.kind = cudaMemcpyDeviceToHost;
  OK("cudaMemcpy3D device to host", cudaMemcpy3D(&down));
  CHECK("the volume round trip", memcmp(vol, back, sizeof vol) == 0);
  free(in);
  free(out);
  return finish();
}
