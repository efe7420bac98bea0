/*
 * Differential cases for CUDA arrays, copies to and from them, texture and surface objects and
 * the kernels that sample them (docs/testing.md):
 *
 *   texture KERNELS.fatbin   (test/differential/kernels.cu)
 *
 * Sampled values are printed: coordinates are chosen so that linear filtering's weights are
 * multiples of 1/256 and every result is exact in float, so a GPU must print the same.
 */
#include <string.h>

#include "diff.h"

typedef __typeof__(&cuArrayCreate_v2) array_create_t;
typedef __typeof__(&cuArray3DCreate_v2) array3d_create_t;
typedef __typeof__(&cuArrayDestroy) array_destroy_t;
typedef __typeof__(&cuArrayGetDescriptor_v2) array_desc_t;
typedef __typeof__(&cuArray3DGetDescriptor_v2) array3d_desc_t;
typedef __typeof__(&cuMemcpy2D_v2) copy2d_t;
typedef __typeof__(&cuMemcpy3D_v2) copy3d_t;
typedef __typeof__(&cuMemcpy2DAsync_v2) copy2d_async_t;
typedef __typeof__(&cuMemcpyHtoA_v2) htoa_t;
typedef __typeof__(&cuMemcpyAtoH_v2) atoh_t;
typedef __typeof__(&cuMemcpyAtoD_v2) atod_t;
typedef __typeof__(&cuMemcpyDtoA_v2) dtoa_t;
typedef __typeof__(&cuMemcpyAtoA_v2) atoa_t;
typedef __typeof__(&cuMemcpyHtoAAsync_v2) htoa_async_t;
typedef __typeof__(&cuMemcpyAtoHAsync_v2) atoh_async_t;
typedef __typeof__(&cuMipmappedArrayCreate) mip_create_t;
typedef __typeof__(&cuMipmappedArrayGetLevel) mip_level_t;
typedef __typeof__(&cuMipmappedArrayDestroy) mip_destroy_t;
typedef __typeof__(&cuTexObjectCreate) tex_create_t;
typedef __typeof__(&cuTexObjectDestroy) tex_destroy_t;
typedef __typeof__(&cuTexObjectGetResourceDesc) tex_res_t;
typedef __typeof__(&cuTexObjectGetTextureDesc) tex_tex_t;
typedef __typeof__(&cuTexObjectGetResourceViewDesc) tex_view_t;
typedef __typeof__(&cuSurfObjectCreate) surf_create_t;
typedef __typeof__(&cuSurfObjectDestroy) surf_destroy_t;
typedef __typeof__(&cuSurfObjectGetResourceDesc) surf_res_t;
typedef __typeof__(&cuMemAlloc_v2) alloc_t;
typedef __typeof__(&cuMemFree_v2) free_t;
typedef __typeof__(&cuMemcpyHtoD_v2) htod_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuLaunchKernel) launch_t;
typedef __typeof__(&cuCtxSynchronize) sync_t;

static CUmodule mod;

#define FN(name) ((__typeof__(&name))diff_sym(#name))

static CUdeviceptr dev_alloc(size_t n) {
  CUdeviceptr p;
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&p, n));
  return p;
}

static void arrays(void) {
  CUarray a;
  CUDA_ARRAY_DESCRIPTOR d = {16, 8, CU_AD_FORMAT_FLOAT, 1};
  CALL(cuArrayCreate_v2, array_create_t, "null handle", NULL, &d);
  CALL(cuArrayCreate_v2, array_create_t, "null descriptor", &a, NULL);
  CUDA_ARRAY_DESCRIPTOR bad = d;
  bad.NumChannels = 3;
  CALL(cuArrayCreate_v2, array_create_t, "three channels", &a, &bad);
  bad = d;
  bad.Width = 0;
  CALL(cuArrayCreate_v2, array_create_t, "zero width", &a, &bad);
  bad = d;
  bad.Format = (CUarray_format)0x77;
  CALL(cuArrayCreate_v2, array_create_t, "unknown format", &a, &bad);
  if (CALL(cuArrayCreate_v2, array_create_t, "16x8 float", &a, &d) == CUDA_SUCCESS) {
    CUDA_ARRAY_DESCRIPTOR got;
    memset(&got, 0, sizeof got);
    CALL(cuArrayGetDescriptor_v2, array_desc_t, "2D", &got, a);
    SAY(cuArrayGetDescriptor_v2, "2D", "%zu %zu %d %u", got.Width, got.Height, (int)got.Format, got.NumChannels);
    CALL(cuArrayGetDescriptor_v2, array_desc_t, "null output", NULL, a);
    CUDA_ARRAY3D_DESCRIPTOR g3;
    memset(&g3, 0, sizeof g3);
    CALL(cuArray3DGetDescriptor_v2, array3d_desc_t, "2D", &g3, a);
    SAY(cuArray3DGetDescriptor_v2, "2D", "%zu %zu %zu %d %u %u", g3.Width, g3.Height, g3.Depth, (int)g3.Format,
        g3.NumChannels, g3.Flags);
    CALL(cuArrayDestroy, array_destroy_t, "live", a);
    CALL(cuArrayGetDescriptor_v2, array_desc_t, "destroyed", &got, a);
  }
  CUDA_ARRAY3D_DESCRIPTOR d3 = {8, 4, 3, CU_AD_FORMAT_UNSIGNED_INT8, 4, CUDA_ARRAY3D_SURFACE_LDST};
  if (CALL(cuArray3DCreate_v2, array3d_create_t, "8x4x3 uchar4 surface", &a, &d3) == CUDA_SUCCESS) {
    CUDA_ARRAY3D_DESCRIPTOR g3;
    CALL(cuArray3DGetDescriptor_v2, array3d_desc_t, "3D", &g3, a);
    SAY(cuArray3DGetDescriptor_v2, "3D", "%zu %zu %zu %d %u %u", g3.Width, g3.Height, g3.Depth, (int)g3.Format,
        g3.NumChannels, g3.Flags);
    CALL(cuArrayDestroy, array_destroy_t, "3D", a);
  }
  CUDA_ARRAY3D_DESCRIPTOR bad3 = d3;
  bad3.Height = 0;
  CALL(cuArray3DCreate_v2, array3d_create_t, "depth without height", &a, &bad3);
  bad3 = d3;
  bad3.Flags = CUDA_ARRAY3D_TEXTURE_GATHER;
  CALL(cuArray3DCreate_v2, array3d_create_t, "gather on a 3D array", &a, &bad3);
  bad3 = d3;
  bad3.Width = 1u << 20;
  CALL(cuArray3DCreate_v2, array3d_create_t, "past the 3D width limit", &a, &bad3);
  CALL(cuArrayDestroy, array_destroy_t, "null", NULL);
}

/* A 2D array of floats through every kind of copy, read back whole. */
static void copies(void) {
  enum { W = 6, H = 4 };
  float img[H][W], back[H][W];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) img[y][x] = (float)(y * 10 + x);
  CUarray a, b;
  CUDA_ARRAY_DESCRIPTOR d = {W, H, CU_AD_FORMAT_FLOAT, 1};
  MUST(((array_create_t)diff_sym("cuArrayCreate_v2"))(&a, &d));
  MUST(((array_create_t)diff_sym("cuArrayCreate_v2"))(&b, &d));
  CUDA_MEMCPY2D c;
  memset(&c, 0, sizeof c);
  c.srcMemoryType = CU_MEMORYTYPE_HOST, c.srcHost = img, c.srcPitch = sizeof img[0];
  c.dstMemoryType = CU_MEMORYTYPE_ARRAY, c.dstArray = a;
  c.WidthInBytes = sizeof img[0], c.Height = H;
  CALL(cuMemcpy2D_v2, copy2d_t, "host to array", &c);
  CUDA_MEMCPY2D past = c;
  past.Height = H + 1;
  past.srcPitch = sizeof img[0];
  CALL(cuMemcpy2D_v2, copy2d_t, "host to array, a row too many", &past);
  past = c;
  past.dstXInBytes = 4;
  CALL(cuMemcpy2D_v2, copy2d_t, "host to array, past the row", &past);
  CUDA_MEMCPY2D r;
  memset(&r, 0, sizeof r);
  r.srcMemoryType = CU_MEMORYTYPE_ARRAY, r.srcArray = a, r.srcXInBytes = 4, r.srcY = 1;
  r.dstMemoryType = CU_MEMORYTYPE_HOST, r.dstHost = back, r.dstPitch = sizeof back[0];
  r.WidthInBytes = 3 * sizeof(float), r.Height = 2;
  memset(back, 0, sizeof back);
  CALL(cuMemcpy2D_v2, copy2d_t, "array window to host", &r);
  SAY(cuMemcpy2D_v2, "array window to host", "%g %g %g / %g %g %g", back[0][0], back[0][1], back[0][2], back[1][0],
      back[1][1], back[1][2]);
  /* array -> device -> array -> host, and the byte-offset forms */
  CUdeviceptr dp = dev_alloc(sizeof img);
  CALL(cuMemcpyAtoD_v2, atod_t, "whole array", dp, a, 0, sizeof img);
  CALL(cuMemcpyAtoD_v2, atod_t, "past the end", dp, a, 4, sizeof img);
  CALL(cuMemcpyDtoA_v2, dtoa_t, "whole array", b, 0, dp, sizeof img);
  CALL(cuMemcpyAtoA_v2, atoa_t, "second row", a, 0, b, sizeof img[0], sizeof img[0]);
  memset(back, 0, sizeof back);
  CALL(cuMemcpyAtoH_v2, atoh_t, "whole array", back, a, 0, sizeof back);
  SAY(cuMemcpyAtoH_v2, "whole array", "%g %g %g %g", back[0][0], back[0][5], back[1][0], back[3][5]);
  float one = 42;
  CALL(cuMemcpyHtoA_v2, htoa_t, "one float", a, 8, &one, sizeof one);
  CALL(cuMemcpyHtoA_v2, htoa_t, "null host", a, 8, NULL, sizeof one);
  CALL(cuMemcpyHtoAAsync_v2, htoa_async_t, "one float", a, 12, &one, sizeof one, NULL);
  MUST(((sync_t)diff_sym("cuCtxSynchronize"))());
  float two[2] = {0, 0};
  CALL(cuMemcpyAtoHAsync_v2, atoh_async_t, "two floats", two, a, 8, sizeof two, NULL);
  MUST(((sync_t)diff_sym("cuCtxSynchronize"))());
  SAY(cuMemcpyAtoHAsync_v2, "two floats", "%g %g", two[0], two[1]);
  CALL(cuMemcpyAtoH_v2, atoh_t, "null array", back, NULL, 0, 4);
  CALL(cuMemcpyHtoA_v2_ptds, htoa_t, "one float", a, 16, &one, sizeof one);
  CALL(cuMemcpyHtoAAsync_v2_ptsz, htoa_async_t, "one float", a, 20, &one, sizeof one, NULL);
  MUST(((sync_t)diff_sym("cuCtxSynchronize"))());
  CALL(cuMemcpyAtoH_v2_ptds, atoh_t, "two floats", two, a, 16, sizeof two);
  SAY(cuMemcpyAtoH_v2_ptds, "two floats", "%g %g", two[0], two[1]);
  CALL(cuMemcpyAtoHAsync_v2_ptsz, atoh_async_t, "past the end", two, a, sizeof img - 4, sizeof two, NULL);
  CALL(cuMemcpyAtoD_v2_ptds, atod_t, "one row", dp, a, 0, sizeof img[0]);
  CALL(cuMemcpyDtoA_v2_ptds, dtoa_t, "one row", b, 0, dp, sizeof img[0]);
  CALL(cuMemcpyAtoA_v2_ptds, atoa_t, "one row", a, 0, b, 0, sizeof img[0]);
  /* 3D: a 4x3x2 volume of floats into a 3D array and back, through a device buffer */
  CUDA_ARRAY3D_DESCRIPTOR d3 = {4, 3, 2, CU_AD_FORMAT_FLOAT, 1, 0};
  CUarray v;
  MUST(((array3d_create_t)diff_sym("cuArray3DCreate_v2"))(&v, &d3));
  float vol[2][3][4], vback[2][3][4];
  for (int i = 0; i < 24; i++) ((float *)vol)[i] = (float)i;
  CUDA_MEMCPY3D p;
  memset(&p, 0, sizeof p);
  p.srcMemoryType = CU_MEMORYTYPE_HOST, p.srcHost = vol, p.srcPitch = 16, p.srcHeight = 3;
  p.dstMemoryType = CU_MEMORYTYPE_ARRAY, p.dstArray = v;
  p.WidthInBytes = 16, p.Height = 3, p.Depth = 2;
  CALL(cuMemcpy3D_v2, copy3d_t, "host to 3D array", &p);
  CUDA_MEMCPY3D pz = p;
  pz.dstZ = 1;
  CALL(cuMemcpy3D_v2, copy3d_t, "host to 3D array, a slice too far", &pz);
  CUDA_MEMCPY3D q;
  memset(&q, 0, sizeof q);
  q.srcMemoryType = CU_MEMORYTYPE_ARRAY, q.srcArray = v, q.srcZ = 1;
  q.dstMemoryType = CU_MEMORYTYPE_HOST, q.dstHost = vback, q.dstPitch = 16, q.dstHeight = 3;
  q.WidthInBytes = 16, q.Height = 3, q.Depth = 1;
  memset(vback, 0, sizeof vback);
  CALL(cuMemcpy3D_v2, copy3d_t, "second slice to host", &q);
  SAY(cuMemcpy3D_v2, "second slice to host", "%g %g", vback[0][0][0], vback[0][2][3]);
  CUDA_MEMCPY2D into = c; /* a 2D copy reaches the first slice of a 3D array only */
  into.dstArray = v, into.WidthInBytes = 16, into.Height = 4, into.srcPitch = 16;
  CALL(cuMemcpy2D_v2, copy2d_t, "host to 3D array, past its first slice", &into);
  into.Height = 3;
  CALL(cuMemcpy2D_v2, copy2d_t, "host to 3D array, its first slice", &into);
  CUDA_MEMCPY2D rd = r;
  rd.dstMemoryType = CU_MEMORYTYPE_DEVICE, rd.dstDevice = dp, rd.dstPitch = 64;
  CALL(cuMemcpy2DAsync_v2, copy2d_async_t, "array to device", &rd, NULL);
  rd.dstPitch = 512;
  CALL(cuMemcpy2DAsync_v2, copy2d_async_t, "array to device, pitch past the allocation", &rd, NULL);
  MUST(((sync_t)diff_sym("cuCtxSynchronize"))());
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dp));
  MUST(((array_destroy_t)diff_sym("cuArrayDestroy"))(v));
  MUST(((array_destroy_t)diff_sym("cuArrayDestroy"))(b));
  MUST(((array_destroy_t)diff_sym("cuArrayDestroy"))(a));
}

static void launch(const char *name, unsigned n, void **args) {
  CUfunction f;
  MUST(((__typeof__(&cuModuleGetFunction))diff_sym("cuModuleGetFunction"))(&f, mod, name));
  CUresult r = ((launch_t)diff_sym("cuLaunchKernel"))(f, 1, 1, 1, n, 1, 1, 0, NULL, args, NULL);
  CUresult s = ((sync_t)diff_sym("cuCtxSynchronize"))();
  printf("cuLaunchKernel %s: %d\n", name, (int)(r ? r : s));
}

static CUtexObject texture(CUarray a, CUaddress_mode am, CUfilter_mode fm, unsigned flags, const char *label) {
  CUDA_RESOURCE_DESC rd;
  memset(&rd, 0, sizeof rd);
  rd.resType = CU_RESOURCE_TYPE_ARRAY;
  rd.res.array.hArray = a;
  CUDA_TEXTURE_DESC td;
  memset(&td, 0, sizeof td);
  td.addressMode[0] = td.addressMode[1] = td.addressMode[2] = am;
  td.filterMode = fm;
  td.flags = flags;
  td.borderColor[0] = 0.5f, td.borderColor[1] = 0.25f, td.borderColor[3] = 1;
  CUtexObject t = 0;
  CALL(cuTexObjectCreate, tex_create_t, label, &t, &rd, &td, NULL);
  return t;
}

/* A 4x2 uchar2 texture read as normalized floats at points around and outside it. */
static void sampling(void) {
  enum { W = 4, H = 2, N = 6 };
  unsigned char texels[H][W][2];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) texels[y][x][0] = (unsigned char)(x * 64 + y * 32), texels[y][x][1] = (unsigned char)(255 - x * 17);
  CUarray a;
  CUDA_ARRAY_DESCRIPTOR d = {W, H, CU_AD_FORMAT_UNSIGNED_INT8, 2};
  MUST(((array_create_t)diff_sym("cuArrayCreate_v2"))(&a, &d));
  MUST(((htoa_t)diff_sym("cuMemcpyHtoA_v2"))(a, 0, texels, sizeof texels));
  /* normalized coordinates, chosen to land on multiples of 1/256 of a texel */
  float xy[N][2] = {{0.375f, 0.75f}, {-0.125f, 0.25f}, {1.0625f, 0.5f}, {0.53125f, 1.25f}, {-0.75f, -0.5f}, {2.25f, 0.375f}};
  CUdeviceptr dxy = dev_alloc(sizeof xy), dout = dev_alloc(N * 16);
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(dxy, xy, sizeof xy));
  static const char *const modes[] = {"wrap", "clamp", "mirror", "border"};
  for (int am = 0; am < 4; am++) {
    for (int fm = 0; fm < 2; fm++) {
      char label[64];
      snprintf(label, sizeof label, "%s %s", modes[am], fm ? "linear" : "point");
      CUtexObject t = texture(a, (CUaddress_mode)am, (CUfilter_mode)fm, CU_TRSF_NORMALIZED_COORDINATES, label);
      int n = N;
      void *args[] = {&t, &dxy, &dout, &n};
      launch("tex2d_sample", N, args);
      float out[N][4];
      MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(out, dout, sizeof out));
      for (int i = 0; i < N; i++)
        printf("tex2D %s %d: %.6f %.6f %.6f %.6f\n", label, i, out[i][0], out[i][1], out[i][2], out[i][3]);
      CALL(cuTexObjectDestroy, tex_destroy_t, label, t);
    }
  }
  /* unnormalized coordinates, read as integers */
  CUtexObject ti = texture(a, CU_TR_ADDRESS_MODE_CLAMP, CU_TR_FILTER_MODE_POINT, CU_TRSF_READ_AS_INTEGER, "read as integer");
  float pix[N][2] = {{0.5f, 0.5f}, {3.9f, 1.2f}, {-3.0f, 0.0f}, {7.0f, 9.0f}, {2.0f, 1.0f}, {1.5f, 0.5f}};
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(dxy, pix, sizeof pix));
  int n = N;
  void *iargs[] = {&ti, &dxy, &dout, &n};
  launch("tex2d_sample_int", N, iargs);
  int iout[N][4];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(iout, dout, sizeof iout));
  for (int i = 0; i < N; i++) printf("tex2D read as integer %d: %d %d %d %d\n", i, iout[i][0], iout[i][1], iout[i][2], iout[i][3]);

  CUDA_RESOURCE_DESC got;
  CALL(cuTexObjectGetResourceDesc, tex_res_t, "array", &got, ti);
  SAY(cuTexObjectGetResourceDesc, "array", "%d %d", (int)got.resType, got.res.array.hArray == a);
  CUDA_TEXTURE_DESC gtd;
  CALL(cuTexObjectGetTextureDesc, tex_tex_t, "array", &gtd, ti);
  SAY(cuTexObjectGetTextureDesc, "array", "%d %d %u %g", (int)gtd.addressMode[0], (int)gtd.filterMode, gtd.flags,
      gtd.borderColor[0]);
  CUDA_RESOURCE_VIEW_DESC gv;
  CALL(cuTexObjectGetResourceViewDesc, tex_view_t, "without a view", &gv, ti);
  CALL(cuTexObjectGetResourceDesc, tex_res_t, "null output", NULL, ti);
  CALL(cuTexObjectDestroy, tex_destroy_t, "read as integer", ti);
  CALL(cuTexObjectDestroy, tex_destroy_t, "destroyed", ti);
  CALL(cuTexObjectGetTextureDesc, tex_tex_t, "destroyed", &gtd, ti);

  /* gather: channels 0 and 1 of the 2x2 footprint */
  CUarray g;
  CUDA_ARRAY3D_DESCRIPTOR dg = {W, H, 0, CU_AD_FORMAT_UNSIGNED_INT8, 2, CUDA_ARRAY3D_TEXTURE_GATHER};
  MUST(((array3d_create_t)diff_sym("cuArray3DCreate_v2"))(&g, &dg));
  MUST(((htoa_t)diff_sym("cuMemcpyHtoA_v2"))(g, 0, texels, sizeof texels));
  CUtexObject tg = texture(g, CU_TR_ADDRESS_MODE_CLAMP, CU_TR_FILTER_MODE_POINT, 0, "gather");
  float gxy[2][2] = {{1.0f, 1.0f}, {2.75f, 0.25f}};
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(dxy, gxy, sizeof gxy));
  int two = 2;
  void *gargs[] = {&tg, &dxy, &dout, &two};
  launch("tex2d_gather", 2, gargs);
  float gout[4][4];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(gout, dout, sizeof gout));
  for (int i = 0; i < 4; i++)
    printf("tex2Dgather %d: %.6f %.6f %.6f %.6f\n", i, gout[i][0], gout[i][1], gout[i][2], gout[i][3]);
  MUST(((tex_destroy_t)diff_sym("cuTexObjectDestroy"))(tg));
  MUST(((array_destroy_t)diff_sym("cuArrayDestroy"))(g));

  /* linear memory: tex1Dfetch outside the range reads zero */
  float lin[64];
  for (int i = 0; i < 64; i++) lin[i] = (float)i * 0.5f;
  CUdeviceptr dl = dev_alloc(sizeof lin);
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(dl, lin, sizeof lin));
  CUDA_RESOURCE_DESC rl;
  memset(&rl, 0, sizeof rl);
  rl.resType = CU_RESOURCE_TYPE_LINEAR;
  rl.res.linear.devPtr = dl, rl.res.linear.format = CU_AD_FORMAT_FLOAT, rl.res.linear.numChannels = 1;
  rl.res.linear.sizeInBytes = 8 * sizeof(float);
  CUDA_TEXTURE_DESC tdl;
  memset(&tdl, 0, sizeof tdl);
  CUtexObject tl = 0;
  CALL(cuTexObjectCreate, tex_create_t, "linear", &tl, &rl, &tdl, NULL);
  int twelve = 12;
  void *largs[] = {&tl, &dout, &twelve};
  launch("tex1d_fetch", 12, largs);
  float lout[12];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(lout, dout, sizeof lout));
  printf("tex1Dfetch linear:");
  for (int i = 0; i < 12; i++) printf(" %g", lout[i]);
  printf("\n");
  CALL(cuTexObjectDestroy, tex_destroy_t, "linear", tl);
  CUDA_RESOURCE_DESC bad = rl;
  bad.res.linear.sizeInBytes = 4096;
  CALL(cuTexObjectCreate, tex_create_t, "linear past its allocation", &tl, &bad, &tdl, NULL);
  bad = rl;
  bad.res.linear.devPtr = dl + 4;
  CALL(cuTexObjectCreate, tex_create_t, "linear misaligned", &tl, &bad, &tdl, NULL);
  bad = rl;
  bad.resType = CU_RESOURCE_TYPE_PITCH2D;
  bad.res.pitch2D.devPtr = dl, bad.res.pitch2D.format = CU_AD_FORMAT_FLOAT, bad.res.pitch2D.numChannels = 1;
  bad.res.pitch2D.width = 8, bad.res.pitch2D.height = 4, bad.res.pitch2D.pitchInBytes = 40;
  CALL(cuTexObjectCreate, tex_create_t, "pitch2D pitch not a multiple of the alignment", &tl, &bad, &tdl, NULL);
  bad.res.pitch2D.pitchInBytes = 64;
  CALL(cuTexObjectCreate, tex_create_t, "pitch2D 8x4", &tl, &bad, &tdl, NULL);
  CALL(cuTexObjectDestroy, tex_destroy_t, "pitch2D", tl);
  bad.res.pitch2D.height = 5;
  CALL(cuTexObjectCreate, tex_create_t, "pitch2D past its allocation", &tl, &bad, &tdl, NULL);
  CALL(cuTexObjectCreate, tex_create_t, "null texture descriptor", &tl, &rl, NULL, NULL);
  CALL(cuTexObjectCreate, tex_create_t, "null output", NULL, &rl, &tdl, NULL);
  CUDA_RESOURCE_DESC ra;
  memset(&ra, 0, sizeof ra);
  ra.resType = CU_RESOURCE_TYPE_ARRAY;
  ra.res.array.hArray = a;
  CUsurfObject s = 0;
  CALL(cuSurfObjectCreate, surf_create_t, "array without surface load/store", &s, &ra);
  CALL(cuSurfObjectCreate, surf_create_t, "linear memory", &s, &rl);
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dl));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dxy));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dout));
  MUST(((array_destroy_t)diff_sym("cuArrayDestroy"))(a));
}

/* An 8x8 float mipmapped array of four levels holding 10, 20, 40 and 80, sampled at its centre at
 * levels of detail between and beyond them, with point and linear filtering between levels, and
 * along gradients of 1, 2, 4... texels (whole levels of detail, so every result is exact). */
static void mipmaps(void) {
  CUmipmappedArray m;
  CUDA_ARRAY3D_DESCRIPTOR d = {8, 8, 0, CU_AD_FORMAT_FLOAT, 1, 0};
  CALL(cuMipmappedArrayCreate, mip_create_t, "no levels", &m, &d, 0);
  CALL(cuMipmappedArrayCreate, mip_create_t, "more levels than halvings", &m, &d, 5);
  CALL(cuMipmappedArrayCreate, mip_create_t, "null descriptor", &m, NULL, 4);
  if (CALL(cuMipmappedArrayCreate, mip_create_t, "8x8 float, 4 levels", &m, &d, 4) != CUDA_SUCCESS) return;
  for (unsigned k = 0; k < 4; k++) {
    CUarray lv, again;
    char label[32];
    snprintf(label, sizeof label, "level %u", k);
    CALL(cuMipmappedArrayGetLevel, mip_level_t, label, &lv, m, k);
    CALL(cuMipmappedArrayGetLevel, mip_level_t, label, &again, m, k);
    SAY(cuMipmappedArrayGetLevel, "the same array twice", "%d", lv == again);
    CUDA_ARRAY3D_DESCRIPTOR ld;
    MUST(((array3d_desc_t)diff_sym("cuArray3DGetDescriptor_v2"))(&ld, lv));
    SAY(cuArray3DGetDescriptor_v2, "mipmap level", "%zu %zu", ld.Width, ld.Height);
    float px[64];
    for (int i = 0; i < 64; i++) px[i] = (float)(10 << k);
    MUST(((htoa_t)diff_sym("cuMemcpyHtoA_v2"))(lv, 0, px, ld.Width * ld.Height * sizeof(float)));
    if (k == 3) CALL(cuArrayDestroy, array_destroy_t, "a mipmap level", lv);
  }
  CUarray none;
  CALL(cuMipmappedArrayGetLevel, mip_level_t, "past the last level", &none, m, 4);
  float lods[8] = {0, 0.25f, 0.75f, 1, 2.25f, 3, 9, -1};
  float grads[8] = {0.125f, 0.25f, 0.5f, 1, 2, 0.0625f, 0, 0.25f};
  CUdeviceptr dl = dev_alloc(sizeof lods), dg = dev_alloc(sizeof grads), dout = dev_alloc(2 * sizeof lods);
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(dl, lods, sizeof lods));
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(dg, grads, sizeof grads));
  for (int lin = 0; lin < 2; lin++) {
    CUDA_RESOURCE_DESC rd;
    memset(&rd, 0, sizeof rd);
    rd.resType = CU_RESOURCE_TYPE_MIPMAPPED_ARRAY;
    rd.res.mipmap.hMipmappedArray = m;
    CUDA_TEXTURE_DESC td;
    memset(&td, 0, sizeof td);
    td.addressMode[0] = td.addressMode[1] = CU_TR_ADDRESS_MODE_CLAMP;
    td.flags = CU_TRSF_NORMALIZED_COORDINATES;
    td.mipmapFilterMode = lin ? CU_TR_FILTER_MODE_LINEAR : CU_TR_FILTER_MODE_POINT;
    td.maxMipmapLevelClamp = 10;
    CUtexObject t = 0;
    const char *label = lin ? "mipmapped, linear between levels" : "mipmapped, nearest level";
    CALL(cuTexObjectCreate, tex_create_t, label, &t, &rd, &td, NULL);
    CUDA_RESOURCE_DESC got;
    CALL(cuTexObjectGetResourceDesc, tex_res_t, label, &got, t);
    SAY(cuTexObjectGetResourceDesc, "mipmapped", "%d %d", (int)got.resType, got.res.mipmap.hMipmappedArray == m);
    int n = 8;
    void *args[] = {&t, &dl, &dg, &dout, &n};
    launch("tex2d_lod", 8, args);
    float out[16];
    MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(out, dout, sizeof out));
    for (int i = 0; i < 8; i++)
      printf("tex2DLod %s %g: %g; tex2DGrad %g: %g\n", label, lods[i], out[2 * i], grads[i], out[2 * i + 1]);
    CALL(cuTexObjectDestroy, tex_destroy_t, label, t);
  }
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dl));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dg));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(dout));
  CALL(cuMipmappedArrayDestroy, mip_destroy_t, "live", m);
  CALL(cuMipmappedArrayDestroy, mip_destroy_t, "destroyed", m);
}

/* A surface over a 5x3 float array: every element incremented, then reads at the edges. */
static void surfaces(void) {
  enum { W = 5, H = 3 };
  float img[H][W];
  for (int i = 0; i < W * H; i++) ((float *)img)[i] = (float)i;
  CUarray a;
  CUDA_ARRAY3D_DESCRIPTOR d = {W, H, 0, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_SURFACE_LDST};
  MUST(((array3d_create_t)diff_sym("cuArray3DCreate_v2"))(&a, &d));
  MUST(((htoa_t)diff_sym("cuMemcpyHtoA_v2"))(a, 0, img, sizeof img));
  CUDA_RESOURCE_DESC ra;
  memset(&ra, 0, sizeof ra);
  ra.resType = CU_RESOURCE_TYPE_ARRAY;
  ra.res.array.hArray = a;
  CUsurfObject s = 0;
  CALL(cuSurfObjectCreate, surf_create_t, "array", &s, &ra);
  CALL(cuSurfObjectCreate, surf_create_t, "null output", NULL, &ra);
  CUDA_RESOURCE_DESC got;
  CALL(cuSurfObjectGetResourceDesc, surf_res_t, "array", &got, s);
  SAY(cuSurfObjectGetResourceDesc, "array", "%d %d", (int)got.resType, got.res.array.hArray == a);
  int w = W, h = H;
  void *args[] = {&s, &w, &h};
  launch("surf2d_inc", W, args); /* one row per launch block: blockIdx.y is 0, so row 0 only */
  float back[H][W];
  MUST(((atoh_t)diff_sym("cuMemcpyAtoH_v2"))(back, a, 0, sizeof back));
  printf("surf2Dwrite row 0:");
  for (int x = 0; x < W; x++) printf(" %g", back[0][x]);
  printf(" / row 1: %g\n", back[1][0]);
  CUdeviceptr dout = dev_alloc(16);
  int ex = 4 * W, ey = 1;
  void *eargs[] = {&s, &ex, &ey, &dout};
  launch("surf2d_edge", 1, eargs);
  float edge[2];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(edge, dout, sizeof edge));
  SAY(surf2Dread, "past the row: clamp, zero", "%g %g", edge[0], edge[1]);
  CUtexObject t = texture(a, CU_TR_ADDRESS_MODE_CLAMP, CU_TR_FILTER_MODE_POINT, 0, "surface array as texture");
  CALL(cuTexObjectDestroy, tex_destroy_t, "surface array as texture", t);
  CUsurfObject s2 = 0;
  CALL(cuSurfObjectCreate, surf_create_t, "second", &s2, &ra);
  CALL(cuSurfObjectDestroy, surf_destroy_t, "live", s);
  CALL(cuSurfObjectDestroy, surf_destroy_t, "destroyed", s);
  CALL(cuSurfObjectGetResourceDesc, surf_res_t, "destroyed", &got, s);
  /* last: a trapping read past the row fails the launch and the context with it */
  void *targs[] = {&s2, &ex, &ey, &dout};
  launch("surf2d_trap", 1, targs);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) {
    fprintf(stderr, "usage: texture KERNELS.fatbin\n");
    return 2;
  }
  void *fatbin = diff_read_file(argv[1]);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  CUcontext ctx;
  MUST(((__typeof__(&cuDevicePrimaryCtxRetain))diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, 0));
  MUST(((__typeof__(&cuCtxSetCurrent))diff_sym("cuCtxSetCurrent"))(ctx));
  MUST(((__typeof__(&cuModuleLoadData))diff_sym("cuModuleLoadData"))(&mod, fatbin));
  arrays();
  copies();
  sampling();
  mipmaps();
  surfaces(); /* last: its trapping read leaves the context unusable */
  return 0;
}
