#ifndef VG_IMAGE_H
#define VG_IMAGE_H
#include <stdint.h>
#include <cuda.h>
/* Locates the shippable bytes of an image passed to a load call and their size. */
CUresult vg_image_span(const void *image, const void **start, uint64_t *size);
/* Hashes the image and makes sure the host holds it (uploading it at most once). */
CUresult vg_image_ensure(const void *image, uint8_t hash[32]);
#endif
