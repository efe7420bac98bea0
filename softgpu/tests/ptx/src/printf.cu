// nvcc -ptx -arch=sm_75 printf.cu -o ../printf.ptx
// printf with every argument kind: the argument buffer layout nvcc builds for vprintf.
#include <cstdio>
extern "C" __global__ void pf(const char *s, double d) {
  printf("i=%d u=%u x=%x X=%08X ll=%lld c=%c s=%s f=%.3f e=%e g=%g h=%hd %% end\n", -5, 4000000000u, 255, 0xbeef,
         -1234567890123LL, 'Z', s, d, 1.5e-7, 0.25f, (short)-3);
}
