/*
 * The dark API: export tables handed out by cuGetExportTable, described as data (one
 * vg_dark_desc per table, docs in docs/reference/cudart-driver-interface.md §2).
 *
 * A table is an array of pointer-sized slots. Slot 0 holds the table size in bytes unless the
 * description says the table has no size slot (CONTEXT_LOCAL_STORAGE). Slots the description
 * does not name are filled with a function that logs the table and slot once and returns
 * CUDA_ERROR_NOT_SUPPORTED, so an unexpected caller gets an error instead of jumping to NULL.
 *
 * Everything here is answered in the guest: the tables are called before almost every runtime
 * call (CLS get) or hash guest addresses (integrity check), so none of it may be forwarded.
 */
#ifndef VG_DARKAPI_H
#define VG_DARKAPI_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h> /* after vgcuda.h, which selects the driver's own view of it */

/* Generic slot type; every slot is cast back to its real signature by the caller. */
typedef void (*vg_dark_fn)(void);

typedef struct vg_dark_slot {
  int index;
  const char *name;
  vg_dark_fn fn;
} vg_dark_slot;

typedef struct vg_dark_desc {
  const char *name;
  uint8_t id[16]; /* CUuuid bytes in memory order */
  int size_slot;  /* 1: slot 0 holds nslots * sizeof(void *) */
  int nslots;     /* including the size slot */
  const vg_dark_slot *known;
  int nknown;
} vg_dark_desc;

/* Largest nslots of any table (the unknown-slot functions are generated up to this index). */
#define VG_DARK_MAX_SLOTS 96

/* The descriptions, each beside the functions it names. */
extern const vg_dark_desc vg_dark_cudart_desc;   /* darkapi_cudart.c: CUDART_INTERFACE */
extern const vg_dark_desc vg_dark_checks_desc;   /* darkapi_cudart.c: CONTEXT_CHECKS */
extern const vg_dark_desc vg_dark_hooks_desc;    /* darkapi_tools.c: TOOLS_RUNTIME_CALLBACK_HOOKS */
extern const vg_dark_desc vg_dark_tools_tls_desc; /* darkapi_tools.c: TOOLS_TLS */
extern const vg_dark_desc vg_dark_cls_desc;      /* darkapi_cls.c: CONTEXT_LOCAL_STORAGE */
extern const vg_dark_desc vg_dark_integrity_desc; /* integrity.c: INTEGRITY_CHECK */
extern const vg_dark_desc vg_dark_ctxinfo_desc;  /* darkapi_cublas.c: 21318c60 (cuBLASLt) */

/* Tables whose address is part of the integrity hash, by position in export_table.c's list. */
enum vg_dark_which { VG_DARK_CUDART_INTERFACE = 0, VG_DARK_INTEGRITY_CHECK = 1 };

/* ---- export_table.c ---- */

/* The slot array served for a table of vg_dark_tables (built on first use); NULL if out of range. */
const void *const *vg_dark_table(int which);
/* The served table for id, or NULL when the id is not one we serve; *name gets the table name. */
const void *const *vg_dark_lookup(const uint8_t id[16], const char **name);
/* Called by the unknown-slot functions: logs (once per table and slot), returns NOT_SUPPORTED. */
int vg_dark_unknown_called(int slot);

/* ---- darkapi_cls.c: CONTEXT_LOCAL_STORAGE ---- */

typedef void (*vg_cls_dtor)(void *ctx, void *key, void *value);
int vg_cls_put(void *ctx, void *key, void *value, vg_cls_dtor dtor);
int vg_cls_delete(void *ctx, void *key);
int vg_cls_get(void **value, void *ctx, void *key);
/* The context is being reset or destroyed: removes its entries and runs their destructors (most
 * recently put first), outside any lock. */
void vg_cls_context_gone(void *ctx);

/* ---- context.c: what the tables need from the context layer ---- */

/* The primary context handle of dev, active or not, without retaining it. */
CUresult vg_primary_handle(CUdevice dev, CUcontext *out);
/* The id of ctx (NULL: the current context), unique among the contexts of this process: a
 * primary context gets a new one each time it is reset or released to zero. */
CUresult vg_ctx_id(CUcontext ctx, unsigned long long *id);

/* ---- integrity.c: INTEGRITY_CHECK[1] ---- */

int vg_integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t result[2]);

/* The 48-byte message head the driver hashes, before one 28-byte record per device. */
typedef struct vg_integrity_head {
  uint32_t driver_version, version, pid, tid;
  uint64_t cudart_table, integrity_table, integrity_fn, unix_seconds;
} vg_integrity_head;

typedef struct vg_integrity_dev {
  uint8_t uuid[16];
  int32_t pci_domain, pci_bus, pci_device;
} vg_integrity_dev;

/* HMAC-MD2 of head followed by the device records, with the driver's key; out is 16 bytes. */
void vg_integrity_mac(const vg_integrity_head *head, const vg_integrity_dev *devs, int ndev, uint8_t out[16]);

/* ---- integrity_md2.c: MD2 (RFC 1319) and HMAC-MD2 (RFC 2104, 16-byte blocks) ---- */

typedef struct vg_md2_ctx {
  uint8_t state[16], checksum[16], buf[16];
  size_t n; /* bytes in buf */
} vg_md2_ctx;

void vg_md2_init(vg_md2_ctx *c);
void vg_md2_update(vg_md2_ctx *c, const void *data, size_t len);
void vg_md2_final(vg_md2_ctx *c, uint8_t out[16]);
void vg_md2(const void *data, size_t len, uint8_t out[16]);

typedef struct vg_hmac_md2 {
  vg_md2_ctx inner;
  uint8_t okey[16];
} vg_hmac_md2;

/* keylen > 16 is hashed first, as RFC 2104 prescribes. */
void vg_hmac_md2_init(vg_hmac_md2 *h, const uint8_t *key, size_t keylen);
void vg_hmac_md2_update(vg_hmac_md2 *h, const void *data, size_t len);
void vg_hmac_md2_final(vg_hmac_md2 *h, uint8_t out[16]);

#endif
