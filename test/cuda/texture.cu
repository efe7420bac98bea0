// CUDA arrays, textures and surfaces the way image code uses them, each result checked against a
// CPU reference of CUDA's texture-fetching rules (programming guide, "Texture Fetching"): linear
// filtering weights in 1/256 steps, the four address modes with normalized coordinates, 8/16-bit
// texels read as normalized floats, tex2D on pitched memory, tex1Dfetch on linear memory,
// tex2Dgather, tex3D, layered and mipmapped textures, and 2D/3D surfaces written by kernels and read
// back with array copies.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { W = 16, H = 8, N = 64 };

__global__ void sample2d(cudaTextureObject_t t, const float2 *at, float4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex2D<float4>(t, at[i].x, at[i].y);
}

__global__ void sample2d_float(cudaTextureObject_t t, const float2 *at, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex2D<float>(t, at[i].x, at[i].y);
}

__global__ void fetch1d(cudaTextureObject_t t, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex1Dfetch<int>(t, i);
}

__global__ void gather(cudaTextureObject_t t, const float2 *at, float4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex2Dgather<float4>(t, at[i].x, at[i].y, 2);
}

__global__ void sample3d(cudaTextureObject_t t, float *out, int w, int h, int d) {
  int x = threadIdx.x, y = threadIdx.y, z = blockIdx.x;
  if (x < w && y < h && z < d) out[(z * h + y) * w + x] = tex3D<float>(t, x + 0.5f, y + 0.5f, z + 0.5f);
}

__global__ void sample_lod(cudaTextureObject_t t, const float *lod, float *out, int n) {
  int i = threadIdx.x;
  if (i < n) out[i] = tex2DLod<float>(t, 0.5f, 0.5f, lod[i]);
}

__global__ void sample_layers(cudaTextureObject_t t, float *out, int w, int layers) {
  int x = threadIdx.x, l = blockIdx.x;
  if (x < w && l < layers) out[l * w + x] = tex1DLayered<float>(t, x + 0.5f, l);
}

__global__ void surf_scale(cudaSurfaceObject_t s, int w, int h) {
  int x = threadIdx.x, y = blockIdx.x;
  if (x < w && y < h) {
    uchar4 v = surf2Dread<uchar4>(s, x * 4, y);
    surf2Dwrite(make_uchar4(v.x / 2, v.y / 2, v.z / 2, 255), s, x * 4, y);
  }
}

__global__ void surf3d_fill(cudaSurfaceObject_t s, int w, int h, int d) {
  int x = threadIdx.x, y = threadIdx.y, z = blockIdx.x;
  if (x < w && y < h && z < d) surf3Dwrite((float)(x + 10 * y + 100 * z), s, x * 4, y, z);
}

// ---- the CPU reference -------------------------------------------------------------------------
static int address(int i, int n, cudaTextureAddressMode m, bool norm) {
  if (!norm && (m == cudaAddressModeWrap || m == cudaAddressModeMirror)) m = cudaAddressModeClamp;
  if (i >= 0 && i < n) return i;
  switch (m) {
  case cudaAddressModeWrap: return ((i % n) + n) % n;
  case cudaAddressModeMirror: {
    int k = ((i % (2 * n)) + 2 * n) % (2 * n);
    return k < n ? k : 2 * n - 1 - k;
  }
  case cudaAddressModeBorder: return -1;
  default: return i < 0 ? 0 : n - 1;
  }
}

// Texel (x, y) of a uchar4 image as normalized floats, or the border colour.
static void texel(const uchar4 *img, int x, int y, const float border[4], float out[4]) {
  if (x < 0 || y < 0) {
    memcpy(out, border, 4 * sizeof(float));
    return;
  }
  uchar4 v = img[y * W + x];
  out[0] = v.x / 255.0f, out[1] = v.y / 255.0f, out[2] = v.z / 255.0f, out[3] = v.w / 255.0f;
}

// The fixed-point split of a coordinate for linear filtering: texel i and the weight of i + 1.
static void split(float x, int *i, float *a) {
  int f = (int)floor(((double)x - 0.5) * 256.0 + 0.5);
  *i = f >> 8;
  *a = (float)(f & 255) / 256.0f;
}

static void reference(const uchar4 *img, float u, float v, cudaTextureAddressMode m, bool linear, const float border[4],
                      float out[4]) {
  float x = u * W, y = v * H;
  if (!linear) {
    texel(img, address((int)floorf(x), W, m, true), address((int)floorf(y), H, m, true), border, out);
    return;
  }
  int i, j;
  float a, b;
  split(x, &i, &a);
  split(y, &j, &b);
  float t00[4], t10[4], t01[4], t11[4];
  texel(img, address(i, W, m, true), address(j, H, m, true), border, t00);
  texel(img, address(i + 1, W, m, true), address(j, H, m, true), border, t10);
  texel(img, address(i, W, m, true), address(j + 1, H, m, true), border, t01);
  texel(img, address(i + 1, W, m, true), address(j + 1, H, m, true), border, t11);
  for (int c = 0; c < 4; c++)
    out[c] = (1 - a) * (1 - b) * t00[c] + a * (1 - b) * t10[c] + (1 - a) * b * t01[c] + a * b * t11[c];
}

static float2 *device_coords(const float2 *host, int n) {
  float2 *d;
  if (cudaMalloc((void **)&d, n * sizeof *d) != cudaSuccess) return NULL;
  cudaMemcpy(d, host, n * sizeof *d, cudaMemcpyHostToDevice);
  return d;
}

int main() {
  // A 16 x 8 uchar4 image in a CUDA array, uploaded from rows 80 bytes apart.
  uchar4 img[H * W];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      img[y * W + x] = make_uchar4((unsigned char)(x * 16 + y), (unsigned char)(255 - y * 30), (unsigned char)(x * y * 3),
                                   (unsigned char)(x * 7 + y * 5));
  const size_t hp = 80;
  unsigned char *rows = (unsigned char *)calloc(H, hp);
  for (int y = 0; y < H; y++) memcpy(rows + y * hp, img + y * W, W * sizeof(uchar4));
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<uchar4>();
  cudaArray_t arr;
  OK("cudaMallocArray", cudaMallocArray(&arr, &fmt, W, H));
  OK("cudaMemcpy2DToArray", cudaMemcpy2DToArray(arr, 0, 0, rows, hp, W * sizeof(uchar4), H, cudaMemcpyHostToDevice));
  cudaChannelFormatDesc got;
  cudaExtent ext;
  unsigned int flags;
  OK("cudaArrayGetInfo", cudaArrayGetInfo(&got, &ext, &flags, arr));
  CHECK("the array's format and size", got.x == 8 && got.w == 8 && got.f == cudaChannelFormatKindUnsigned &&
                                            ext.width == W && ext.height == H && ext.depth == 0);

  // Sample points: inside, on texel edges, and outside on every side.
  float2 at[N];
  for (int i = 0; i < N; i++) at[i] = make_float2(-1.3f + 0.061f * i, 1.7f - 0.047f * i);
  float2 *dat = device_coords(at, N);
  float4 *dout;
  OK("cudaMalloc", cudaMalloc((void **)&dout, N * sizeof(float4)));
  const cudaTextureAddressMode modes[] = {cudaAddressModeWrap, cudaAddressModeClamp, cudaAddressModeMirror,
                                          cudaAddressModeBorder};
  const char *names[] = {"wrap", "clamp", "mirror", "border"};
  const float border[4] = {0.25f, 0.5f, 0.75f, 1.0f};
  for (int m = 0; m < 4; m++)
    for (int lin = 0; lin < 2; lin++) {
      cudaResourceDesc rd = {};
      rd.resType = cudaResourceTypeArray;
      rd.res.array.array = arr;
      cudaTextureDesc td = {};
      td.addressMode[0] = td.addressMode[1] = modes[m];
      td.filterMode = lin ? cudaFilterModeLinear : cudaFilterModePoint;
      td.readMode = cudaReadModeNormalizedFloat;
      td.normalizedCoords = 1;
      memcpy(td.borderColor, border, sizeof border);
      cudaTextureObject_t t = 0;
      char label[80];
      snprintf(label, sizeof label, "texture %s %s", names[m], lin ? "linear" : "point");
      OK(label, cudaCreateTextureObject(&t, &rd, &td, NULL));
      sample2d<<<1, N>>>(t, dat, dout, N);
      float4 out[N];
      OK("cudaMemcpy of the samples", cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost));
      float worst = 0;
      for (int i = 0; i < N; i++) {
        float want[4];
        reference(img, at[i].x, at[i].y, modes[m], lin, border, want);
        const float *o = &out[i].x;
        for (int c = 0; c < 4; c++) worst = fmaxf(worst, fabsf(o[c] - want[c]));
      }
      snprintf(label, sizeof label, "tex2D %s %s matches the CPU", names[m], lin ? "linear" : "point");
      CHECK(label, lin ? worst < 2e-3f : worst == 0.0f);
      cudaDestroyTextureObject(t);
    }

  // Signed 16-bit texels read as normalized floats: -32768 -> -1, 32767 -> 1.
  short2 s16[4] = {make_short2(-32768, 32767), make_short2(0, -16384), make_short2(16384, 1), make_short2(-1, 2)};
  cudaChannelFormatDesc sfmt = cudaCreateChannelDesc<short2>();
  cudaArray_t sarr;
  OK("cudaMallocArray short2", cudaMallocArray(&sarr, &sfmt, 4, 1));
  OK("cudaMemcpy2DToArray short2", cudaMemcpy2DToArray(sarr, 0, 0, s16, sizeof s16, sizeof s16, 1, cudaMemcpyHostToDevice));
  {
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeArray;
    rd.res.array.array = sarr;
    cudaTextureDesc td = {};
    td.readMode = cudaReadModeNormalizedFloat;
    cudaTextureObject_t t = 0;
    OK("texture short2", cudaCreateTextureObject(&t, &rd, &td, NULL));
    float2 pts[4];
    for (int i = 0; i < 4; i++) pts[i] = make_float2(i + 0.5f, 0.5f);
    float2 *dp = device_coords(pts, 4);
    sample2d<<<1, 4>>>(t, dp, dout, 4);
    float4 out[4];
    OK("cudaMemcpy short2 samples", cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost));
    bool ok = true;
    for (int i = 0; i < 4; i++) {
      ok = ok && fabsf(out[i].x - fmaxf(s16[i].x / 32767.0f, -1.0f)) < 1e-6f;
      ok = ok && fabsf(out[i].y - fmaxf(s16[i].y / 32767.0f, -1.0f)) < 1e-6f;
    }
    CHECK("short2 read as normalized floats", ok && out[0].x == -1.0f && out[0].y == 1.0f);
    cudaDestroyTextureObject(t);
    cudaFree(dp);
  }

  // tex2D on pitched linear memory, linear filtering with unnormalized coordinates.
  float plane[H][W];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) plane[y][x] = (float)(x * x) - 3.0f * y;
  float *dplane;
  size_t pitch;
  OK("cudaMallocPitch", cudaMallocPitch((void **)&dplane, &pitch, W * sizeof(float), H));
  OK("cudaMemcpy2D to the plane", cudaMemcpy2D(dplane, pitch, plane, sizeof plane[0], sizeof plane[0], H, cudaMemcpyHostToDevice));
  {
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypePitch2D;
    rd.res.pitch2D.devPtr = dplane;
    rd.res.pitch2D.desc = cudaCreateChannelDesc<float>();
    rd.res.pitch2D.width = W;
    rd.res.pitch2D.height = H;
    rd.res.pitch2D.pitchInBytes = pitch;
    cudaTextureDesc td = {};
    td.addressMode[0] = td.addressMode[1] = cudaAddressModeClamp;
    td.filterMode = cudaFilterModeLinear;
    cudaTextureObject_t t = 0;
    OK("texture on pitched memory", cudaCreateTextureObject(&t, &rd, &td, NULL));
    float2 pts[N];
    for (int i = 0; i < N; i++) pts[i] = make_float2(0.37f * i - 2.0f, 0.11f * i);
    float2 *dp = device_coords(pts, N);
    float *dres;
    cudaMalloc((void **)&dres, N * sizeof(float));
    sample2d_float<<<1, N>>>(t, dp, dres, N);
    float res[N];
    OK("cudaMemcpy pitched samples", cudaMemcpy(res, dres, sizeof res, cudaMemcpyDeviceToHost));
    float worst = 0;
    for (int k = 0; k < N; k++) {
      int i, j;
      float a, b;
      split(pts[k].x, &i, &a);
      split(pts[k].y, &j, &b);
      int i0 = address(i, W, cudaAddressModeClamp, false), i1 = address(i + 1, W, cudaAddressModeClamp, false);
      int j0 = address(j, H, cudaAddressModeClamp, false), j1 = address(j + 1, H, cudaAddressModeClamp, false);
      float want = (1 - a) * (1 - b) * plane[j0][i0] + a * (1 - b) * plane[j0][i1] + (1 - a) * b * plane[j1][i0] +
                   a * b * plane[j1][i1];
      worst = fmaxf(worst, fabsf(res[k] - want) / fmaxf(1.0f, fabsf(want)));
    }
    CHECK("tex2D on pitched memory matches the CPU", worst < 2e-3f);
    cudaDestroyTextureObject(t);
    cudaFree(dp);
    cudaFree(dres);
  }

  // tex1Dfetch on linear memory.
  {
    int lin[100];
    for (int i = 0; i < 100; i++) lin[i] = i * i - 50;
    int *dlin, *dres;
    cudaMalloc((void **)&dlin, sizeof lin);
    cudaMalloc((void **)&dres, sizeof lin);
    cudaMemcpy(dlin, lin, sizeof lin, cudaMemcpyHostToDevice);
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeLinear;
    rd.res.linear.devPtr = dlin;
    rd.res.linear.desc = cudaCreateChannelDesc<int>();
    rd.res.linear.sizeInBytes = sizeof lin;
    cudaTextureDesc td = {};
    cudaTextureObject_t t = 0;
    OK("texture on linear memory", cudaCreateTextureObject(&t, &rd, &td, NULL));
    fetch1d<<<1, 100>>>(t, dres, 100);
    int res[100];
    OK("cudaMemcpy fetched", cudaMemcpy(res, dres, sizeof res, cudaMemcpyDeviceToHost));
    CHECK("tex1Dfetch reads every element", memcmp(res, lin, sizeof lin) == 0);
    cudaDestroyTextureObject(t);
    cudaFree(dlin);
    cudaFree(dres);
  }

  // tex2Dgather: channel z of the 2x2 footprint.
  {
    cudaArray_t garr;
    OK("cudaMallocArray gather", cudaMallocArray(&garr, &fmt, W, H, cudaArrayTextureGather));
    OK("cudaMemcpy2DToArray gather", cudaMemcpy2DToArray(garr, 0, 0, img, W * sizeof(uchar4), W * sizeof(uchar4), H, cudaMemcpyHostToDevice));
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeArray;
    rd.res.array.array = garr;
    cudaTextureDesc td = {};
    td.addressMode[0] = td.addressMode[1] = cudaAddressModeClamp;
    td.readMode = cudaReadModeNormalizedFloat;
    cudaTextureObject_t t = 0;
    OK("texture for gather", cudaCreateTextureObject(&t, &rd, &td, NULL));
    float2 pts[N];
    for (int i = 0; i < N; i++) pts[i] = make_float2(0.29f * i - 1.0f, 0.13f * i + 0.2f);
    float2 *dp = device_coords(pts, N);
    gather<<<1, N>>>(t, dp, dout, N);
    float4 out[N];
    OK("cudaMemcpy gathered", cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost));
    bool ok = true;
    for (int k = 0; k < N; k++) {
      int i, j;
      float a, b;
      split(pts[k].x, &i, &a);
      split(pts[k].y, &j, &b);
      int i0 = address(i, W, cudaAddressModeClamp, false), i1 = address(i + 1, W, cudaAddressModeClamp, false);
      int j0 = address(j, H, cudaAddressModeClamp, false), j1 = address(j + 1, H, cudaAddressModeClamp, false);
      float want[4] = {img[j1 * W + i0].z / 255.0f, img[j1 * W + i1].z / 255.0f, img[j0 * W + i1].z / 255.0f,
                       img[j0 * W + i0].z / 255.0f};
      ok = ok && out[k].x == want[0] && out[k].y == want[1] && out[k].z == want[2] && out[k].w == want[3];
    }
    CHECK("tex2Dgather returns the footprint", ok);
    cudaDestroyTextureObject(t);
    cudaFreeArray(garr);
    cudaFree(dp);
  }

  // A 3D array: filled by a kernel through a surface, copied to the host, and sampled as a texture.
  {
    const int vw = 5, vh = 4, vd = 3;
    cudaArray_t varr;
    cudaChannelFormatDesc ffmt = cudaCreateChannelDesc<float>();
    OK("cudaMalloc3DArray", cudaMalloc3DArray(&varr, &ffmt, make_cudaExtent(vw, vh, vd), cudaArraySurfaceLoadStore));
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeArray;
    rd.res.array.array = varr;
    cudaSurfaceObject_t s = 0;
    OK("3D surface", cudaCreateSurfaceObject(&s, &rd));
    surf3d_fill<<<vd, dim3(vw, vh)>>>(s, vw, vh, vd);
    OK("surf3Dwrite kernel", cudaGetLastError());
    float vol[3][4][5];
    memset(vol, 0, sizeof vol);
    cudaMemcpy3DParms p = {};
    p.srcArray = varr;
    p.dstPtr = make_cudaPitchedPtr(vol, vw * sizeof(float), vw, vh);
    p.extent = make_cudaExtent(vw, vh, vd);
    p.kind = cudaMemcpyDeviceToHost;
    OK("cudaMemcpy3D from the array", cudaMemcpy3D(&p));
    bool ok = true;
    for (int z = 0; z < vd; z++)
      for (int y = 0; y < vh; y++)
        for (int x = 0; x < vw; x++) ok = ok && vol[z][y][x] == (float)(x + 10 * y + 100 * z);
    CHECK("surf3Dwrite wrote every element", ok);
    cudaTextureDesc td = {};
    cudaTextureObject_t t = 0;
    OK("3D texture", cudaCreateTextureObject(&t, &rd, &td, NULL));
    float *dres;
    cudaMalloc((void **)&dres, sizeof vol);
    sample3d<<<vd, dim3(vw, vh)>>>(t, dres, vw, vh, vd);
    float res[3][4][5];
    OK("cudaMemcpy 3D samples", cudaMemcpy(res, dres, sizeof res, cudaMemcpyDeviceToHost));
    CHECK("tex3D reads every element", memcmp(res, vol, sizeof vol) == 0);
    cudaDestroyTextureObject(t);
    cudaDestroySurfaceObject(s);
    cudaFree(dres);
    cudaFreeArray(varr);
  }

  // A mipmapped array: each level filled through cudaGetMipmappedArrayLevel, sampled with tex2DLod.
  {
    const int levels = 4;
    cudaMipmappedArray_t mm;
    cudaChannelFormatDesc ffmt = cudaCreateChannelDesc<float>();
    OK("cudaMallocMipmappedArray", cudaMallocMipmappedArray(&mm, &ffmt, make_cudaExtent(8, 8, 0), levels));
    for (int k = 0; k < levels; k++) {
      cudaArray_t lv;
      OK("cudaGetMipmappedArrayLevel", cudaGetMipmappedArrayLevel(&lv, mm, k));
      int side = 8 >> k;
      float px[64];
      for (int i = 0; i < 64; i++) px[i] = (float)(k + 1);
      OK("cudaMemcpy2DToArray a level", cudaMemcpy2DToArray(lv, 0, 0, px, side * sizeof(float), side * sizeof(float), side, cudaMemcpyHostToDevice));
    }
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeMipmappedArray;
    rd.res.mipmap.mipmap = mm;
    cudaTextureDesc td = {};
    td.normalizedCoords = 1;
    td.mipmapFilterMode = cudaFilterModeLinear;
    td.maxMipmapLevelClamp = levels - 1;
    cudaTextureObject_t t = 0;
    OK("mipmapped texture", cudaCreateTextureObject(&t, &rd, &td, NULL));
    float lods[6] = {0, 0.5f, 1, 1.75f, 3, 8}, want[6] = {1, 1.5f, 2, 2.75f, 4, 4};
    float *dl, *dres;
    cudaMalloc((void **)&dl, sizeof lods);
    cudaMalloc((void **)&dres, sizeof lods);
    cudaMemcpy(dl, lods, sizeof lods, cudaMemcpyHostToDevice);
    sample_lod<<<1, 6>>>(t, dl, dres, 6);
    float res[6];
    OK("cudaMemcpy level samples", cudaMemcpy(res, dres, sizeof res, cudaMemcpyDeviceToHost));
    bool ok = true;
    for (int i = 0; i < 6; i++) ok = ok && fabsf(res[i] - want[i]) < 2e-2f;
    CHECK("tex2DLod mixes the levels around the level of detail", ok);
    cudaDestroyTextureObject(t);
    cudaFree(dl);
    cudaFree(dres);
    OK("cudaFreeMipmappedArray", cudaFreeMipmappedArray(mm));
  }

  // A layered 1D array: each layer its own row of texels.
  {
    const int lw = 8, nl = 3;
    float layers[nl][lw];
    for (int l = 0; l < nl; l++)
      for (int x = 0; x < lw; x++) layers[l][x] = (float)(l * 100 + x);
    cudaArray_t la;
    cudaChannelFormatDesc ffmt = cudaCreateChannelDesc<float>();
    OK("cudaMalloc3DArray layered", cudaMalloc3DArray(&la, &ffmt, make_cudaExtent(lw, 0, nl), cudaArrayLayered));
    cudaMemcpy3DParms p = {};
    p.srcPtr = make_cudaPitchedPtr(layers, lw * sizeof(float), lw, 1);
    p.dstArray = la;
    p.extent = make_cudaExtent(lw, 1, nl);
    p.kind = cudaMemcpyHostToDevice;
    OK("cudaMemcpy3D to the layers", cudaMemcpy3D(&p));
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeArray;
    rd.res.array.array = la;
    cudaTextureDesc td = {};
    cudaTextureObject_t t = 0;
    OK("layered texture", cudaCreateTextureObject(&t, &rd, &td, NULL));
    float *dres;
    cudaMalloc((void **)&dres, sizeof layers);
    sample_layers<<<nl, lw>>>(t, dres, lw, nl);
    float res[nl][lw];
    OK("cudaMemcpy layered samples", cudaMemcpy(res, dres, sizeof res, cudaMemcpyDeviceToHost));
    CHECK("tex1DLayered reads every layer", memcmp(res, layers, sizeof res) == 0);
    cudaDestroyTextureObject(t);
    cudaFree(dres);
    cudaFreeArray(la);
  }

  // A 2D surface: every pixel halved by a kernel, read back with cudaMemcpy2DFromArray.
  {
    cudaArray_t sa;
    OK("cudaMallocArray surface", cudaMallocArray(&sa, &fmt, W, H, cudaArraySurfaceLoadStore));
    OK("cudaMemcpy2DToArray surface", cudaMemcpy2DToArray(sa, 0, 0, img, W * sizeof(uchar4), W * sizeof(uchar4), H, cudaMemcpyHostToDevice));
    cudaResourceDesc rd = {};
    rd.resType = cudaResourceTypeArray;
    rd.res.array.array = sa;
    cudaSurfaceObject_t s = 0;
    OK("2D surface", cudaCreateSurfaceObject(&s, &rd));
    surf_scale<<<H, W>>>(s, W, H);
    OK("surf2D kernel", cudaGetLastError());
    uchar4 back[H * W];
    OK("cudaMemcpy2DFromArray", cudaMemcpy2DFromArray(back, W * sizeof(uchar4), sa, 0, 0, W * sizeof(uchar4), H, cudaMemcpyDeviceToHost));
    bool ok = true;
    for (int i = 0; i < W * H; i++)
      ok = ok && back[i].x == img[i].x / 2 && back[i].y == img[i].y / 2 && back[i].z == img[i].z / 2 && back[i].w == 255;
    CHECK("surf2Dread and surf2Dwrite", ok);
    cudaDestroySurfaceObject(s);
    cudaFreeArray(sa);
  }

  cudaFree(dat);
  cudaFree(dout);
  cudaFree(dplane);
  cudaFreeArray(sarr);
  cudaFreeArray(arr);
  free(rows);
  OK("no error left behind", cudaDeviceSynchronize());
  return finish();
}
