/*
 * CUDA arrays and texture/surface objects through softgpu's driver API (array.c, texture.c):
 * device memory an array takes is used until it is destroyed or its context goes, objects belong
 * to the context that made them (a kernel of another context cannot sample them, and their
 * handles are not pointers), destroying an array under a texture leaves the texture reading as an
 * illegal address rather than freed memory, and a 2D copy into a 3D array stays in its slice.
 */
#include <string.h>

#include "sg_test_cu.h"

/* out[i] = tex2D(t, i + 0.5, 0.5).x for 4 threads. */
static const char SAMPLE_PTX[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry sample(.param .u64 t, .param .u64 out)\n{\n"
    ".reg .b32 %r<4>;\n.reg .f32 %f<8>;\n.reg .b64 %rd<6>;\n"
    "ld.param.u64 %rd1, [t];\nld.param.u64 %rd2, [out];\n"
    "mov.u32 %r1, %tid.x;\ncvt.rn.f32.u32 %f1, %r1;\nadd.f32 %f1, %f1, 0f3F000000;\nmov.f32 %f2, 0f3F000000;\n"
    "tex.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd1, {%f1, %f2}];\n"
    "mul.wide.u32 %rd3, %r1, 4;\nadd.s64 %rd4, %rd2, %rd3;\nst.global.f32 [%rd4], %f3;\nret;\n}\n";

static CUfunction load_sample(CUmodule *m) {
  CUfunction f;
  ASSERT_CU_OK(cuModuleLoadData(m, SAMPLE_PTX));
  ASSERT_CU_OK(cuModuleGetFunction(&f, *m, "sample"));
  return f;
}

static CUtexObject array_texture(CUarray a) {
  CUDA_RESOURCE_DESC rd;
  memset(&rd, 0, sizeof rd);
  rd.resType = CU_RESOURCE_TYPE_ARRAY;
  rd.res.array.hArray = a;
  CUDA_TEXTURE_DESC td;
  memset(&td, 0, sizeof td);
  td.addressMode[0] = td.addressMode[1] = CU_TR_ADDRESS_MODE_CLAMP;
  CUtexObject t = 0;
  ASSERT_CU_OK(cuTexObjectCreate(&t, &rd, &td, NULL));
  return t;
}

static CUresult run_sample(CUfunction f, CUtexObject t, CUdeviceptr out) {
  void *args[] = {&t, &out};
  CUresult r = cuLaunchKernel(f, 1, 1, 1, 4, 1, 1, 0, NULL, args, NULL);
  return r ? r : cuCtxSynchronize();
}

TEST(texture_sampled_in_its_context_only) {
  CUcontext primary = sg_test_setup();
  CUmodule m;
  CUfunction f = load_sample(&m);
  float px[4] = {1, 2, 3, 4};
  CUarray a;
  CUDA_ARRAY_DESCRIPTOR d = {4, 1, CU_AD_FORMAT_FLOAT, 1};
  ASSERT_CU_OK(cuArrayCreate(&a, &d));
  ASSERT_CU_OK(cuMemcpyHtoA(a, 0, px, sizeof px));
  CUtexObject t = array_texture(a);
  ASSERT_TRUE(t != 0 && t < 1u << 20); /* a small number, not an address */
  CUdeviceptr out;
  ASSERT_CU_OK(cuMemAlloc(&out, sizeof px));
  ASSERT_CU_OK(run_sample(f, t, out));
  float got[4];
  ASSERT_CU_OK(cuMemcpyDtoH(got, out, sizeof got));
  ASSERT_EQ(memcmp(got, px, sizeof px), 0);

  /* Another context neither describes nor samples it. */
  CUcontext other;
  ASSERT_CU_OK(cuCtxCreate_v2(&other, 0, 0));
  CUmodule m2;
  CUfunction f2 = load_sample(&m2);
  CUDA_RESOURCE_DESC rd;
  ASSERT_CU(cuTexObjectGetResourceDesc(&rd, t), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuTexObjectDestroy(t), CUDA_ERROR_INVALID_VALUE);
  CUdeviceptr out2;
  ASSERT_CU_OK(cuMemAlloc(&out2, sizeof px));
  ASSERT_CU(run_sample(f2, t, out2), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU_OK(cuCtxDestroy(other));

  ASSERT_CU_OK(cuCtxSetCurrent(primary));
  ASSERT_CU_OK(cuTexObjectGetResourceDesc(&rd, t));
  ASSERT_TRUE(rd.resType == CU_RESOURCE_TYPE_ARRAY && rd.res.array.hArray == a);
  /* The array goes first: the texture now names freed memory, which reads as an illegal address. */
  ASSERT_CU_OK(cuArrayDestroy(a));
  ASSERT_CU(run_sample(f, t, out), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU_OK(cuDevicePrimaryCtxReset(0));
}

TEST(texture_arrays_hold_memory_until_destroyed) {
  sg_test_setup();
  uint64_t used0, used1, total;
  ASSERT_EQ(sg_softgpu_memory(&used0, &total), 0);
  CUarray a;
  CUDA_ARRAY3D_DESCRIPTOR d = {256, 256, 4, CU_AD_FORMAT_FLOAT, 4, 0};
  ASSERT_CU_OK(cuArray3DCreate(&a, &d));
  ASSERT_EQ(sg_softgpu_memory(&used1, &total), 0);
  ASSERT_TRUE(used1 >= used0 + 256 * 256 * 4 * 16);
  ASSERT_CU_OK(cuArrayDestroy(a));
  ASSERT_CU(cuArrayDestroy(a), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_EQ(sg_softgpu_memory(&used1, &total), 0);
  ASSERT_EQ(used1, used0);
  /* Arrays and objects of a context go with it. */
  CUcontext c;
  ASSERT_CU_OK(cuCtxCreate_v2(&c, 0, 0));
  ASSERT_CU_OK(cuArray3DCreate(&a, &d));
  CUtexObject t = array_texture(a);
  ASSERT_CU_OK(cuCtxDestroy(c));
  ASSERT_EQ(sg_softgpu_memory(&used1, &total), 0);
  ASSERT_EQ(used1, used0);
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&c, 0));
  ASSERT_CU_OK(cuCtxSetCurrent(c));
  ASSERT_CU(cuTexObjectDestroy(t), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuDevicePrimaryCtxReset(0));
}

TEST(texture_3d_copies_stay_in_their_slices) {
  sg_test_setup();
  CUarray a;
  CUDA_ARRAY3D_DESCRIPTOR d = {4, 2, 3, CU_AD_FORMAT_UNSIGNED_INT8, 1, CUDA_ARRAY3D_SURFACE_LDST};
  ASSERT_CU_OK(cuArray3DCreate(&a, &d));
  unsigned char box[3][2][4], back[3][2][4];
  for (int i = 0; i < 24; i++) ((unsigned char *)box)[i] = (unsigned char)(i + 1);
  CUDA_MEMCPY3D p;
  memset(&p, 0, sizeof p);
  p.srcMemoryType = CU_MEMORYTYPE_HOST, p.srcHost = box, p.srcPitch = 4, p.srcHeight = 2;
  p.dstMemoryType = CU_MEMORYTYPE_ARRAY, p.dstArray = a;
  p.WidthInBytes = 4, p.Height = 2, p.Depth = 3;
  ASSERT_CU_OK(cuMemcpy3D(&p));
  p.dstY = 1; /* rows 1..2 of a 2-row slice: refused, nothing written */
  p.Depth = 1;
  ASSERT_CU(cuMemcpy3D(&p), CUDA_ERROR_INVALID_VALUE);
  p.dstY = 0, p.dstZ = 2, p.Depth = 2;
  ASSERT_CU(cuMemcpy3D(&p), CUDA_ERROR_INVALID_VALUE);
  memset(back, 0, sizeof back);
  ASSERT_CU_OK(cuMemcpyAtoH(back, a, 0, sizeof back));
  ASSERT_EQ(memcmp(back, box, sizeof box), 0);
  CUsurfObject s;
  CUDA_RESOURCE_DESC rd;
  memset(&rd, 0, sizeof rd);
  rd.resType = CU_RESOURCE_TYPE_ARRAY;
  rd.res.array.hArray = a;
  ASSERT_CU_OK(cuSurfObjectCreate(&s, &rd));
  ASSERT_CU_OK(cuSurfObjectDestroy(s));
  ASSERT_CU_OK(cuArrayDestroy(a));
  /* Formats the engine does not store, and cubemaps, are refused as such. */
  CUDA_ARRAY3D_DESCRIPTOR nv = {64, 64, 0, CU_AD_FORMAT_NV12, 1, 0};
  ASSERT_CU(cuArray3DCreate(&a, &nv), CUDA_ERROR_NOT_SUPPORTED);
  CUDA_ARRAY3D_DESCRIPTOR cube = {8, 8, 6, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP};
  ASSERT_CU(cuArray3DCreate(&a, &cube), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_CU_OK(cuDevicePrimaryCtxReset(0));
}
