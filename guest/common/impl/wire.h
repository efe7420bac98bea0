/*
 * Frame codec of the vgpu wire protocol, version 1 (docs/protocol.md). Pure functions over byte
 * buffers: no I/O, no allocation except where a decoded WELCOME owns its device table. Shared by
 * the session layer and the tests that check it against test/vectors/protocol.json.
 */
#ifndef VG_WIRE_H
#define VG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define VG_FRAME_HDR_LEN 16u
#define VG_MAX_PAYLOAD (16u * 1024u * 1024u + 64u * 1024u)
#define VG_MAX_STR 4096u
#define VG_HELLO_MAGIC 0x55504756u
#define VG_PROTO_MAJOR 1u
/* Minor 1: the WELCOME extension block (docs/protocol.md, "WELCOME extensions").
 * Minor 2: STATUS / STATUS_REPLY before ATTACH (docs/protocol.md, "Status before ATTACH").
 * Minor 3: NOTIFY notices: kernel output and shutdown (docs/protocol.md, "Notices").
 * Minor 4: shared memory for bulk copies (docs/protocol.md, "Shared memory").
 * Minor 5: LZ4-compressed CALL payloads on remote links (docs/protocol.md, "Compression"). */
#define VG_PROTO_MINOR 5u
#define VG_PROTO_MINOR_STATUS 2u
#define VG_PROTO_MINOR_NOTICE 3u
#define VG_PROTO_MINOR_SHM 4u
#define VG_PROTO_MINOR_LZ4 5u
/* HELLO flags: the guest can compress CALL payloads with LZ4. */
#define VG_HELLO_LZ4 0x2u
/* WELCOME host flags: softgpu backs the devices; this connection takes compressed CALLs. */
#define VG_HOST_SOFTGPU 0x1u
#define VG_HOST_LZ4 0x2u
/* Sanity bounds on a WELCOME: more is treated as a malformed handshake, not a huge allocation. */
#define VG_MAX_DEVICES 256u
#define VG_MAX_ATTRS 4096u
#define VG_MAX_EXTS 256u
/* Extension tags of a WELCOME (docs/protocol.md). Unknown tags are skipped. */
#define VG_EXT_DRIVER_VERSION 1u /* the NVIDIA driver version string NVML reports */
#define VG_MAX_DRIVER_STR 79u    /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE less the NUL */

enum vg_frame_type {
  VG_FT_HELLO = 1,
  VG_FT_WELCOME = 2,
  VG_FT_CALL = 3,
  VG_FT_REPLY = 4,
  VG_FT_ERROR = 5,
  VG_FT_PING = 6,
  VG_FT_PONG = 7,
  VG_FT_NOTIFY = 8,
  VG_FT_ATTACH = 9,   /* guest -> host, empty: asks for the executor before the first CALL */
  VG_FT_ATTACHED = 10, /* host -> guest: u32 status (enum vg_wire_status), str message */
  VG_FT_STATUS = 11,   /* guest -> host, before ATTACH, empty: the VM's accounting (status.h) */
  VG_FT_STATUS_REPLY = 12
};

/* VG_FF_LZ4 (CALL, where the WELCOME said VG_HOST_LZ4): the payload is u32 size + an LZ4 block
 * that decompresses to that many bytes, the call's real payload (compress.h). */
enum { VG_FF_NOREPLY = 0x1, VG_FF_MORE = 0x2, VG_FF_LZ4 = 0x4 };

/* What a NOTIFY frame tells the guest, in its `op`. Unknown notices are skipped. */
enum vg_notice {
  VG_NOTICE_STDOUT = 1,  /* payload: bytes for the program's stdout (kernel printf) */
  VG_NOTICE_STDERR = 2,  /* payload: bytes for its stderr (failed kernel asserts) */
  VG_NOTICE_SHUTDOWN = 3 /* payload: u32 grace time in ms, str message (vg_error_decode's layout) */
};

/* The `u64 ctx` of a CALL: 0 = no current context; this value = the current context is a primary
 * context that is not active (released or reset), which the driver answers with
 * CUDA_ERROR_CONTEXT_IS_DESTROYED instead of CUDA_ERROR_INVALID_CONTEXT; else a remote id. */
#define VG_CTX_INACTIVE_PRIMARY 1u

/* Decode failures. 0 is success; the values are stable because tests name them. */
typedef enum vg_wire_err {
  VG_WIRE_OK = 0,
  VG_WIRE_ETRUNC,     /* buffer shorter than the header or than header + len */
  VG_WIRE_EOVERSIZE,  /* len over VG_MAX_PAYLOAD */
  VG_WIRE_ETYPE,      /* unknown frame type */
  VG_WIRE_EFLAGS,     /* flag not allowed on this type */
  VG_WIRE_EMAGIC,     /* HELLO magic mismatch */
  VG_WIRE_ESHORT,     /* payload shorter than its fields say */
  VG_WIRE_ESTR,       /* str/bytes length past the end of the payload, or str over 4096 */
  VG_WIRE_ELIMIT,     /* a count over a sanity bound (devices, attributes) */
  VG_WIRE_ENOMEM,
  VG_WIRE_ETRAIL      /* bytes after the frame in a one-frame buffer, or after a payload's last field */
} vg_wire_err;

const char *vg_wire_strerror(int err);

typedef struct vg_frame_hdr {
  uint32_t len;
  uint16_t type;
  uint16_t flags;
  uint32_t id;
  uint32_t op;
} vg_frame_hdr;

void vg_wire_put_hdr(uint8_t out[VG_FRAME_HDR_LEN], const vg_frame_hdr *h);
/* Decodes and validates a header (type, flags allowed on it, len limit). */
int vg_wire_get_hdr(const uint8_t in[VG_FRAME_HDR_LEN], vg_frame_hdr *h);
/* A whole frame in buf[0..n): validates the header and that exactly 16 + len bytes are present
 * (fewer is ETRUNC, more is ETRAIL). */
int vg_wire_split_frame(const uint8_t *buf, size_t n, vg_frame_hdr *h, const uint8_t **payload);

/* Bounded little-endian reader. Errors latch: after the first failure every get returns 0. */
typedef struct vg_rd {
  const uint8_t *p;
  size_t len, pos;
  int err;
} vg_rd;

void vg_rd_init(vg_rd *r, const void *p, size_t len);
uint8_t vg_rd_u8(vg_rd *r);
uint16_t vg_rd_u16(vg_rd *r);
uint32_t vg_rd_u32(vg_rd *r);
uint64_t vg_rd_u64(vg_rd *r);
/* A str field: returns a view (not NUL-terminated) and its length; NULL on error. */
const char *vg_rd_str(vg_rd *r, size_t *n);
/* Raw n bytes: returns a view; NULL on error. */
const uint8_t *vg_rd_raw(vg_rd *r, size_t n);
/* The end of a payload: the latched error, else ETRAIL if bytes are left after the last field. */
int vg_rd_finish(const vg_rd *r);

/* Growable little-endian writer. Errors latch (ENOMEM, ESTR, EOVERSIZE past `limit`). */
typedef struct vg_wr {
  uint8_t *p;
  size_t len, cap, limit;
  int err;
} vg_wr;

void vg_wr_init(vg_wr *w, size_t limit);
void vg_wr_free(vg_wr *w);
int vg_wr_reserve(vg_wr *w, size_t extra);
void vg_wr_u8(vg_wr *w, uint8_t v);
void vg_wr_u16(vg_wr *w, uint16_t v);
void vg_wr_u32(vg_wr *w, uint32_t v);
void vg_wr_u64(vg_wr *w, uint64_t v);
void vg_wr_raw(vg_wr *w, const void *p, size_t n);
void vg_wr_str(vg_wr *w, const char *s, size_t n);

/* ---- extension blocks ----
 * The end of a WELCOME (minor >= 1) and of a STATUS_REPLY: u32 count (at most VG_MAX_EXTS), then
 * count x (u16 tag, u32 len, len bytes). One codec for both messages; each gives its own tags
 * their meaning and skips the tags it does not know, so a later host can add facts. */

typedef struct vg_ext {
  uint16_t tag;
  uint32_t len;
  const uint8_t *data; /* len bytes: a view into the decoded payload, or the caller's bytes */
} vg_ext;

/* Writes a block of n entries. */
int vg_ext_encode(vg_wr *w, const vg_ext *e, uint32_t n);
/* Reads a block, calling on(ctx, entry) for each entry in wire order; the first nonzero return
 * (a vg_wire_err) stops it and is returned. A length past the payload is VG_WIRE_ESTR. */
int vg_ext_decode(vg_rd *r, int (*on)(void *ctx, const vg_ext *e), void *ctx);

/* ---- handshake payloads ---- */

typedef struct vg_hello {
  uint32_t magic;
  uint16_t major, minor;
  uint32_t flags;
  uint32_t pid;
  const char *token; size_t token_len;     /* views into the decoded buffer, or caller strings */
  const char *host; size_t host_len;
  const char *program; size_t program_len;
} vg_hello;

int vg_hello_encode(vg_wr *w, const vg_hello *h);
int vg_hello_decode(const uint8_t *p, size_t n, vg_hello *h);

typedef struct vg_devrec {
  char *name;              /* NUL-terminated copy */
  uint8_t uuid[16];
  uint64_t total_mem;
  uint32_t pci_domain, pci_bus, pci_device;
  uint32_t nattr;
  int32_t *attr;
} vg_devrec;

typedef struct vg_welcome {
  uint16_t major, minor;
  uint32_t host_flags;
  uint64_t session;
  uint32_t driver_version;
  char *vm_name;           /* NUL-terminated copy */
  uint32_t count;
  vg_devrec *dev;
  /* The extension block follows the devices exactly when minor >= 1 (the host answers with the
   * lower of its minor and the HELLO's, so a minor-0 guest never sees one). Tags this codec does
   * not know are skipped when decoding. */
  char *driver_string;     /* tag 1, NUL-terminated copy; NULL when absent */
} vg_welcome;

int vg_welcome_encode(vg_wr *w, const vg_welcome *wl);
/* Allocates; on success free with vg_welcome_free. On failure *wl is left empty. */
int vg_welcome_decode(const uint8_t *p, size_t n, vg_welcome *wl);
void vg_welcome_free(vg_welcome *wl);

/* The payload of ERROR and of ATTACHED: u32 code (status), str message. */
typedef struct vg_errmsg {
  uint32_t code;
  const char *msg; size_t msg_len;
} vg_errmsg;

int vg_error_encode(vg_wr *w, const vg_errmsg *e);
int vg_error_decode(const uint8_t *p, size_t n, vg_errmsg *e);

#endif
