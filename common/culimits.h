/*
 * Launch-configuration limits that are the same on every CUDA device from compute capability 3.0
 * on (CUDA C++ Programming Guide, "Technical Specifications per Compute Capability"). softgpu
 * reports them as its device attributes and enforces them at launch; the guest falls back to them
 * when the host's device table lacks the attribute.
 */
#ifndef VG_CULIMITS_H
#define VG_CULIMITS_H

enum {
  VG_CU_MAX_THREADS_PER_BLOCK = 1024,
  VG_CU_MAX_BLOCK_DIM_X = 1024,
  VG_CU_MAX_BLOCK_DIM_Y = 1024,
  VG_CU_MAX_BLOCK_DIM_Z = 64,
  VG_CU_MAX_GRID_DIM_X = 2147483647,
  VG_CU_MAX_GRID_DIM_Y = 65535,
  VG_CU_MAX_GRID_DIM_Z = 65535,
  /* Shared memory a block may use without opting in to more (cuFuncSetAttribute). */
  VG_CU_MAX_SHARED_PER_BLOCK = 48 * 1024,
};

#endif
