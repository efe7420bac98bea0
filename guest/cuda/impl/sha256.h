#ifndef VG_SHA256_H
#define VG_SHA256_H
#include <stddef.h>
#include <stdint.h>
void vg_sha256(const void *data, size_t n, uint8_t out[32]);
#endif
