/*
 * Texture and surface instructions: tex (1D/2D/3D, layered 1D/2D, with .level and .grad on
 * mipmapped textures), tld4 (2D gather), suld.b/sust.b with .trap/.clamp/.zero,
 * txq and suq. The handle in the instruction is resolved by the API layer (sg_ptx_launch.texture),
 * which knows only the objects of this process's session; every texel is read through sg_mem_at,
 * so a description that outlived its memory fails as an illegal address.
 *
 * Sampling follows the CUDA programming guide's "Texture Fetching" appendix:
 *  - normalized coordinates are scaled by the size (x = u * N);
 *  - nearest-point sampling reads texel floor(x);
 *  - linear filtering reads texels i = floor(xB) and i + 1 with xB = x - 0.5 and weight
 *    alpha = frac(xB) held, as on the hardware, in 9-bit fixed point with 8 fractional bits: xB is
 *    rounded to the nearest 1/256 before it is split, so weights are multiples of 1/256 (and
 *    0.999 rounds up to the next texel with weight 0). The weighted sum is then taken in float;
 *  - address modes act on texel indices: clamp to [0, N-1], border (out of range reads the
 *    border colour), wrap (index mod N) and mirror (reflected with period 2N). As on the GPU,
 *    wrap and mirror need normalized coordinates; without them they clamp;
 *  - integer coordinates (tex.*.s32, tex1Dfetch) read texel i directly; on linear memory an
 *    index outside the resource reads zero.
 * Mipmaps: tex.level takes the level of detail it is given, tex.grad log2 of the longer gradient
 * (in texels of level 0); the descriptor's bias is added and its clamps applied. Point mipmap
 * filtering reads the nearest level, linear mixes the two around it by the fraction (in float).
 * A plain tex reads level 0.
 * Texels convert per channel: 8/16-bit integers to [0, 1] (unsigned) or [-1, 1] (signed, -128
 * reads as -1) unless the texture reads as integers; 32-bit integers stay integers; half to
 * float. Channels the format lacks read 0, and alpha 1.
 */
#include <math.h>
#include <string.h>

#include "ptx_internal.h"

/* CUarray_format (cuda.h), as the texture description carries it. */
enum { F_U8 = 0x01, F_U16 = 0x02, F_U32 = 0x03, F_S8 = 0x08, F_S16 = 0x09, F_S32 = 0x0a, F_F16 = 0x10, F_F32 = 0x20 };
/* CUaddress_mode. */
enum { AM_WRAP = 0, AM_CLAMP = 1, AM_MIRROR = 2, AM_BORDER = 3 };

static unsigned fmt_size(uint32_t f) {
  switch (f) {
  case F_U8: case F_S8: return 1;
  case F_U16: case F_S16: case F_F16: return 2;
  case F_U32: case F_S32: case F_F32: return 4;
  default: return 0;
  }
}

/* Whether fetches return floats (normalized integers, half, float) rather than integers. */
static int returns_float(const sg_ptx_tex *d) {
  switch (d->format) {
  case F_F16: case F_F32: return 1;
  case F_U8: case F_S8: case F_U16: case F_S16: return !d->read_int;
  default: return 0;
  }
}

/* A texel value: four channels as float or as integer, per returns_float. */
typedef union texel {
  float f[4];
  int32_t i[4];
} texel;

static void decode_texel(const sg_ptx_tex *d, const uint8_t *p, int isf, texel *out) {
  unsigned fs = fmt_size(d->format);
  for (int c = 0; c < 4; c++) {
    if (c >= d->channels) {
      if (isf) out->f[c] = c == 3 ? 1.0f : 0.0f;
      else out->i[c] = c == 3 ? 1 : 0;
      continue;
    }
    const uint8_t *q = p + c * fs;
    int32_t iv = 0;
    float fv = 0;
    switch (d->format) {
    case F_U8: iv = q[0]; fv = (float)iv / 255.0f; break;
    case F_S8: iv = (int8_t)q[0]; fv = fmaxf((float)iv / 127.0f, -1.0f); break;
    case F_U16: { uint16_t v; memcpy(&v, q, 2); iv = v; fv = (float)iv / 65535.0f; break; }
    case F_S16: { int16_t v; memcpy(&v, q, 2); iv = v; fv = fmaxf((float)iv / 32767.0f, -1.0f); break; }
    case F_U32: case F_S32: memcpy(&iv, q, 4); break;
    case F_F16: { uint16_t v; memcpy(&v, q, 2); fv = sg_f16_to_f32(v); break; }
    case F_F32: memcpy(&fv, q, 4); break;
    default: break;
    }
    if (isf) out->f[c] = fv;
    else out->i[c] = iv;
  }
}

static void border_texel(const sg_ptx_tex *d, int isf, texel *out) {
  for (int c = 0; c < 4; c++) {
    if (isf) out->f[c] = d->border[c];
    else out->i[c] = (int32_t)d->border[c];
  }
}

/* Index i of a dimension of n texels under address mode am; -1 for "outside: border". */
static int64_t wrap_index(int64_t i, int64_t n, int am, int norm) {
  if (!norm && (am == AM_WRAP || am == AM_MIRROR)) am = AM_CLAMP;
  if (i >= 0 && i < n) return i;
  switch (am) {
  case AM_WRAP: return ((i % n) + n) % n;
  case AM_MIRROR: {
    int64_t m = ((i % (2 * n)) + 2 * n) % (2 * n);
    return m < n ? m : 2 * n - 1 - m;
  }
  case AM_BORDER: return -1;
  default: return i < 0 ? 0 : n - 1;
  }
}

typedef struct fetch {
  sg_block_ctx *bc;
  sg_thread *t;
  const sg_insn *in;
  const sg_ptx_tex *d;
  int isf;
  uint64_t layer;
} fetch;

/* Reads texel (x, y, z) after address-mode resolution (-1: border). */
static int read_texel(fetch *f, int64_t x, int64_t y, int64_t z, texel *out) {
  const sg_ptx_tex *d = f->d;
  if (x < 0 || y < 0 || z < 0) {
    border_texel(d, f->isf, out);
    return 0;
  }
  unsigned es = fmt_size(d->format) * d->channels;
  uint64_t a = d->base + (f->layer + (uint64_t)z) * d->slice + (uint64_t)y * d->pitch + (uint64_t)x * es;
  const uint8_t *p = sg_mem_at(f->bc, f->t, f->in, SP_GLOBAL, a, es);
  if (!p) return -1;
  decode_texel(d, p, f->isf, out);
  return 0;
}

static int64_t dim_of(const sg_ptx_tex *d, int k) { return k == 0 ? d->width : k == 1 ? d->height : d->depth; }

/* A float coordinate split for linear filtering: texel i0 and weight alpha of i0 + 1 (k/256). */
static void split_linear(float x, int64_t *i0, float *alpha) {
  double xb = ((double)x - 0.5) * 256.0;
  if (xb > 4e15) xb = 4e15;
  if (xb < -4e15) xb = -4e15;
  int64_t fx = (int64_t)floor(xb + 0.5);
  *i0 = fx >> 8; /* arithmetic: floor division by 256 */
  *alpha = (float)(fx & 255) / 256.0f;
}

static float scaled(const sg_ptx_tex *d, float u, int k) {
  return d->norm_coords ? u * (float)dim_of(d, k) : u;
}

static int sample(fetch *f, int ndim, const float crd[3], texel *out) {
  const sg_ptx_tex *d = f->d;
  int64_t idx[3][2] = {{0, 0}, {0, 0}, {0, 0}};
  float w[3] = {0, 0, 0};
  int lin = d->filter_linear && f->isf;
  for (int k = 0; k < ndim; k++) {
    float x = scaled(d, crd[k], k);
    int64_t n = dim_of(d, k), i0;
    if (lin) {
      split_linear(x, &i0, &w[k]);
    } else {
      double fl = floor((double)x);
      i0 = fl > 4e15 ? (int64_t)4e15 : fl < -4e15 ? (int64_t)-4e15 : (int64_t)fl;
    }
    idx[k][0] = wrap_index(i0, n, d->addr[k], d->norm_coords);
    idx[k][1] = lin ? wrap_index(i0 + 1, n, d->addr[k], d->norm_coords) : idx[k][0];
  }
  if (!lin) return read_texel(f, idx[0][0], idx[1][0], idx[2][0], out);
  float acc[4] = {0, 0, 0, 0};
  int corners = 1 << ndim;
  for (int cn = 0; cn < corners; cn++) {
    float wt = 1.0f;
    int64_t at[3] = {0, 0, 0};
    for (int k = 0; k < ndim; k++) {
      int hi = (cn >> k) & 1;
      wt *= hi ? w[k] : 1.0f - w[k];
      at[k] = idx[k][hi];
    }
    texel tv;
    if (read_texel(f, at[0], at[1], at[2], &tv)) return -1;
    for (int c = 0; c < 4; c++) acc[c] += wt * tv.f[c];
  }
  memcpy(out->f, acc, sizeof acc);
  return 0;
}

/* The object behind handle h, asked of the API layer once per worker and launch: an object
 * destroyed while a kernel samples it is undefined in CUDA, and every texel read is checked anyway. */
static sg_ptx_status resolve(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, uint64_t h, int surface,
                             const sg_ptx_tex **d) {
  const sg_ptx_launch *l = bc->launch;
  if (!bc->tex_valid[surface] || bc->tex_handle[surface] != h) {
    bc->tex_valid[surface] = 0;
    if (!l->texture || l->texture(l->texture_arg, h, surface, &bc->tex_cache[surface]) != 0)
      return sg_fail(bc, t, SG_PTX_ERR_ILLEGAL_ADDRESS, "%s handle 0x%llx at line %u names no %s of this context",
                     surface ? "surface" : "texture", (unsigned long long)h, in->line, surface ? "surface" : "texture");
    bc->tex_valid[surface] = 1;
    bc->tex_handle[surface] = h;
  }
  *d = &bc->tex_cache[surface];
  return SG_PTX_OK;
}

static float reg_f32(uint64_t v) {
  float f;
  uint32_t u = (uint32_t)v;
  memcpy(&f, &u, 4);
  return f;
}

/* The four results, and for a sparse fetch its residency: softgpu's textures are all resident. */
static void put4(uint64_t *r, const sg_tx *tx, const texel *v) {
  for (int c = 0; c < 4; c++) r[tx->d[c]] = (uint32_t)v->i[c];
  if (tx->pred != SG_NO_SLOT) r[tx->pred] = 1;
}

/* One fetch of texture d (one mipmap level) at the instruction's coordinates. */
static int fetch_at(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const sg_tx *tx, const uint64_t *r,
                    const sg_ptx_tex *d, texel *out) {
  fetch f = {bc, t, in, d, returns_float(d), 0};
  int layered = tx->geom == TG_A1D || tx->geom == TG_A2D;
  int ndim = tx->geom == TG_1D || tx->geom == TG_A1D ? 1 : tx->geom == TG_3D ? 3 : 2;
  int first = 0;
  if (layered) {
    int64_t layer = (int32_t)r[tx->crd[0]];
    int64_t nl = d->layers ? d->layers : 1;
    f.layer = (uint64_t)(layer < 0 ? 0 : layer >= nl ? nl - 1 : layer);
    first = 1;
  }
  if (tx->ct == T_S32) {
    int64_t at[3] = {0, 0, 0};
    int outside = 0;
    for (int k = 0; k < ndim; k++) {
      int64_t i = (int32_t)r[tx->crd[first + k]];
      if (d->linear) {
        outside |= i < 0 || i >= dim_of(d, k);
        at[k] = i;
      } else {
        at[k] = wrap_index(i, dim_of(d, k), d->addr[k], 0);
      }
    }
    if (outside) {
      memset(out, 0, sizeof *out);
      return 0;
    }
    return read_texel(&f, at[0], at[1], at[2], out);
  }
  if (d->linear) {
    sg_fail(bc, t, SG_PTX_ERR_UNSUPPORTED, "float coordinates on a linear texture at line %u", in->line);
    return -1;
  }
  float crd[3] = {0, 0, 0};
  for (int k = 0; k < ndim; k++) crd[k] = reg_f32(r[tx->crd[first + k]]);
  return sample(&f, ndim, crd, out);
}

/* Mipmap level k of d as a texture of its own. */
static void level_of(const sg_ptx_tex *d, int k, sg_ptx_tex *out) {
  *out = *d;
  if (k <= 0) return;
  const sg_ptx_mip *m = &d->mip[k - 1];
  out->base = m->base, out->pitch = m->pitch, out->slice = m->slice;
  out->width = m->width, out->height = m->height, out->depth = m->depth;
}

/* The level of detail of tex.level (given) or tex.grad (log2 of the longer gradient in texels of
 * level 0), with the descriptor's bias and clamps, within the levels there are. */
static float level_of_detail(const sg_tx *tx, const uint64_t *r, const sg_ptx_tex *d) {
  float lod;
  if (tx->mipmode == TM_LEVEL) {
    lod = reg_f32(r[tx->lod]);
  } else {
    int ndim = tx->ng < 3 ? tx->ng : 3;
    double lx = 0, ly = 0;
    for (int k = 0; k < ndim; k++) {
      double s = d->norm_coords ? (double)dim_of(d, k) : 1.0;
      double a = reg_f32(r[tx->gx[k]]) * s, b = reg_f32(r[tx->gy[k]]) * s;
      lx += a * a, ly += b * b;
    }
    double rho = sqrt(lx > ly ? lx : ly);
    lod = rho > 0 ? (float)log2(rho) : -1e30f;
  }
  lod += d->lod_bias;
  if (lod > d->max_lod) lod = d->max_lod;
  if (lod < d->min_lod) lod = d->min_lod;
  if (lod > (float)d->nmips) lod = (float)d->nmips;
  if (!(lod > 0)) lod = 0; /* also NaN */
  return lod;
}

static sg_ptx_status do_tex(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const sg_tx *tx, uint64_t *r,
                            const sg_ptx_tex *d) {
  texel out;
  if (tx->mipmode == TM_BASE || d->nmips == 0) {
    if (fetch_at(bc, t, in, tx, r, d, &out)) return bc->status;
  } else {
    float lod = level_of_detail(tx, r, d);
    int l0 = d->mip_linear ? (int)floorf(lod) : (int)floorf(lod + 0.5f);
    float w = d->mip_linear ? lod - (float)l0 : 0.0f;
    sg_ptx_tex lv;
    level_of(d, l0, &lv);
    if (fetch_at(bc, t, in, tx, r, &lv, &out)) return bc->status;
    if (w > 0 && l0 < d->nmips && returns_float(d)) {
      texel hi;
      level_of(d, l0 + 1, &lv);
      if (fetch_at(bc, t, in, tx, r, &lv, &hi)) return bc->status;
      for (int c = 0; c < 4; c++) out.f[c] = (1.0f - w) * out.f[c] + w * hi.f[c];
    }
  }
  put4(r, tx, &out);
  return SG_PTX_OK;
}

/* tld4: the chosen channel of the 2x2 footprint bilinear filtering would use, in the order
 * (i0, j1), (i1, j1), (i1, j0), (i0, j0). */
static sg_ptx_status do_tld4(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const sg_tx *tx, uint64_t *r,
                             const sg_ptx_tex *d) {
  if (d->linear || d->dims != 2)
    return sg_fail(bc, t, SG_PTX_ERR_UNSUPPORTED, "tld4 of a texture that is not 2D at line %u", in->line);
  fetch f = {bc, t, in, d, returns_float(d), 0};
  int64_t ix[2], iy[2];
  for (int k = 0; k < 2; k++) {
    float w;
    int64_t i0;
    split_linear(scaled(d, reg_f32(r[tx->crd[k]]), k), &i0, &w);
    int64_t *dst = k ? iy : ix;
    dst[0] = wrap_index(i0, dim_of(d, k), d->addr[k], d->norm_coords);
    dst[1] = wrap_index(i0 + 1, dim_of(d, k), d->addr[k], d->norm_coords);
  }
  static const int order[4][2] = {{0, 1}, {1, 1}, {1, 0}, {0, 0}};
  texel out;
  for (int q = 0; q < 4; q++) {
    texel tv;
    if (read_texel(&f, ix[order[q][0]], iy[order[q][1]], 0, &tv)) return bc->status;
    out.i[q] = tv.i[tx->comp];
  }
  put4(r, tx, &out);
  return SG_PTX_OK;
}

static sg_ptx_status do_surface(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const sg_tx *tx, uint64_t *r,
                                const sg_ptx_tex *d) {
  int layered = tx->geom == TG_A1D || tx->geom == TG_A2D;
  int ndim = tx->geom == TG_1D || tx->geom == TG_A1D ? 1 : tx->geom == TG_3D ? 3 : 2;
  int first = layered ? 1 : 0;
  unsigned n = (unsigned)tx->bsize * tx->nd;
  uint64_t row_bytes = (uint64_t)d->width * fmt_size(d->format) * d->channels;
  int64_t c[4] = {0, 0, 0, 0};
  int64_t lim[4] = {(int64_t)row_bytes - n + 1, d->height, d->depth, d->layers ? d->layers : 1};
  if (layered) c[3] = (int32_t)r[tx->crd[0]];
  for (int k = 0; k < ndim; k++) c[k] = (int32_t)r[tx->crd[first + k]];
  if (c[0] % n)
    return sg_fail(bc, t, SG_PTX_ERR_MISALIGNED, "misaligned %u-byte surface access at x = %lld bytes at line %u", n,
                   (long long)c[0], in->line);
  int outside = row_bytes < n;
  for (int k = 0; k < 4; k++) outside |= c[k] < 0 || c[k] >= lim[k];
  if (outside) {
    if (tx->clamp == SC_TRAP)
      return sg_fail(bc, t, SG_PTX_ERR_ILLEGAL_ADDRESS,
                     "surface access out of bounds (x = %lld bytes, y = %lld, z = %lld, layer = %lld) at line %u",
                     (long long)c[0], (long long)c[1], (long long)c[2], (long long)c[3], in->line);
    if (tx->clamp == SC_ZERO || row_bytes < n) {
      if (tx->kind == TX_SULD)
        for (int k = 0; k < tx->nd; k++) r[tx->d[k]] = 0;
      return SG_PTX_OK;
    }
    for (int k = 0; k < 4; k++) c[k] = c[k] < 0 ? 0 : c[k] >= lim[k] ? lim[k] - 1 : c[k];
    c[0] -= c[0] % n;
  }
  uint64_t a = d->base + (uint64_t)(c[3] + c[2]) * d->slice + (uint64_t)c[1] * d->pitch + (uint64_t)c[0];
  uint8_t *p = sg_mem_at(bc, t, in, SP_GLOBAL, a, tx->bsize);
  if (!p || (n > tx->bsize && !sg_mem_at(bc, t, in, SP_GLOBAL, a + n - tx->bsize, tx->bsize))) return bc->status;
  for (int k = 0; k < tx->nd; k++) {
    uint64_t v = 0;
    if (tx->kind == TX_SULD) {
      memcpy(&v, p + (size_t)k * tx->bsize, tx->bsize);
      r[tx->d[k]] = v;
    } else {
      v = r[tx->d[k]];
      memcpy(p + (size_t)k * tx->bsize, &v, tx->bsize);
    }
  }
  return SG_PTX_OK;
}

static uint32_t query(const sg_tx *tx, const sg_ptx_tex *d) {
  switch (tx->query) {
  case TQ_WIDTH: return d->width;
  case TQ_HEIGHT: return d->height;
  case TQ_DEPTH: return d->depth;
  case TQ_ARRAY_SIZE: return d->layers;
  case TQ_NUM_MIPMAP_LEVELS: return 1u + d->nmips;
  case TQ_NUM_SAMPLES: return 1;
  case TQ_NORMALIZED_COORDS: return d->norm_coords;
  default: return 0;
  }
}

sg_ptx_status sg_tex_exec(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, uint64_t *r) {
  const sg_tx *tx = &bc->mod->tx[in->aux];
  int surface = tx->kind == TX_SULD || tx->kind == TX_SUST || tx->kind == TX_SUQ;
  const sg_ptx_tex *d = NULL;
  sg_ptx_status st = resolve(bc, t, in, r[tx->handle], surface, &d);
  if (st) return st;
  switch (tx->kind) {
  case TX_TEX: return do_tex(bc, t, in, tx, r, d);
  case TX_TLD4: return do_tld4(bc, t, in, tx, r, d);
  case TX_SULD: case TX_SUST: return do_surface(bc, t, in, tx, r, d);
  default: r[tx->d[0]] = query(tx, d); return SG_PTX_OK;
  }
}
