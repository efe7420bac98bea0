/* Prints device 0's UUID in the GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx form. */
#include <cuda.h>
#include <stdio.h>

int main(void)
{
  CUdevice d;
  CUuuid u;
  if (cuInit(0) || cuDeviceGet(&d, 0) || cuDeviceGetUuid(&u, d)) return 1;
  const unsigned char *b = (const unsigned char *)u.bytes;
  printf("GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
         b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return 0;
}
