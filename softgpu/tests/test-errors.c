/* cuGetErrorName / cuGetErrorString over the whole CUresult table. */
#include <string.h>

#include "sg_test_cu.h"

TEST(errors_names_match_codes) {
  const char *s = NULL;
  ASSERT_CU_OK(cuGetErrorName(CUDA_SUCCESS, &s));
  ASSERT_STR_EQ(s, "CUDA_SUCCESS");
  ASSERT_CU_OK(cuGetErrorName(CUDA_ERROR_ILLEGAL_ADDRESS, &s));
  ASSERT_STR_EQ(s, "CUDA_ERROR_ILLEGAL_ADDRESS");
  ASSERT_CU_OK(cuGetErrorName(CUDA_ERROR_UNKNOWN, &s));
  ASSERT_STR_EQ(s, "CUDA_ERROR_UNKNOWN");
  ASSERT_CU_OK(cuGetErrorName(CUDA_ERROR_KEY_ROTATION, &s));
  ASSERT_STR_EQ(s, "CUDA_ERROR_KEY_ROTATION");
}

TEST(errors_strings_exist_for_every_known_code) {
  int known = 0;
  for (int code = 0; code < 1000; code++) {
    const char *name = NULL, *msg = NULL;
    CUresult a = cuGetErrorName((CUresult)code, &name);
    CUresult b = cuGetErrorString((CUresult)code, &msg);
    ASSERT_EQ(a, b);
    if (a == CUDA_SUCCESS) {
      known++;
      ASSERT_NOT_NULL(name);
      ASSERT_NOT_NULL(msg);
      ASSERT_GT(strlen(msg), 0);
      ASSERT_EQ(strncmp(name, "CUDA_", 5), 0);
    } else {
      ASSERT_EQ(a, CUDA_ERROR_INVALID_VALUE);
      ASSERT_NULL(name);
    }
  }
  ASSERT_EQ(known, 101); /* the CUresult enumerators of CUDA 13.0 */
}

TEST(errors_unknown_and_null) {
  const char *s = "x";
  ASSERT_CU(cuGetErrorName((CUresult)12345, &s), CUDA_ERROR_INVALID_VALUE);
  ASSERT_NULL(s);
  ASSERT_CU(cuGetErrorString((CUresult)-1, &s), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuGetErrorName(CUDA_SUCCESS, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuGetErrorString(CUDA_SUCCESS, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s));
  ASSERT_STR_EQ(s, "out of memory");
}
