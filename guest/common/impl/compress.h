/*
 * LZ4 compression of large CALL payloads on remote links (docs/protocol.md, "Compression").
 * liblz4 is loaded with dlopen on first use, as tls.c loads libssl: a guest without it simply does
 * not offer compression, and the library gains no link dependency a guest might lack.
 */
#ifndef VG_COMPRESS_H
#define VG_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* 1 when liblz4.so.1 loaded and VGPU_COMPRESSION is not "off": the HELLO offers compression. */
int vg_lz4_offer(void);

/* The frame to send for the CALL frame[0, n): a compressed copy (flag VG_FF_LZ4) when the payload
 * is large and compresses well enough to pay, else `frame` itself. The copy lives in a buffer of
 * this module, valid until the next call; callers hold the session lock. */
const uint8_t *vg_lz4_frame(const uint8_t *frame, size_t n, size_t *out_n);

/* Whether n bytes of payload data look worth compressing: a sample from their middle shrinks as
 * vg_lz4_frame requires (the test it makes first). 0 below its minimum size or without liblz4.
 * Lets a caller holding the data apart (rpc.c, vg_put_bytes_tail) assemble a frame for
 * vg_lz4_frame only where that may pay. */
int vg_lz4_worth(const uint8_t *data, size_t n);

#endif
