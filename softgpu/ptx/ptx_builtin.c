/*
 * The device-runtime functions nvcc's PTX calls without defining them: vprintf (printf) and
 * __assertfail (assert). Their arguments live in the caller's frame like any call's; strings and
 * the printf argument buffer are generic addresses, read through the same bounds checks as loads.
 * Their text goes to the launch's output hook (the context's FIFO, softgpu/api/output.c), or
 * straight to stdout / stderr when a launch has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_internal.h"

#define MAX_STR 4096
#define MAX_OUT 8192

int sg_builtin_lookup(const char *name) {
  if (strcmp(name, "vprintf") == 0) return SG_BI_VPRINTF;
  if (strcmp(name, "__assertfail") == 0) return SG_BI_ASSERTFAIL;
  return SG_BI_NONE;
}

int sg_builtin_is_device_runtime(const char *name) {
  /* CUDA 12+ names every device-runtime entry __cudaCDP2<Name>; older toolkits (and the launch
   * ABI nvcc still documents) call the cuda<Name> functions of libcudadevrt directly. Nothing
   * but libcudadevrt defines a cuda-prefixed device function, so either prefix means the module
   * was built with -rdc against the device runtime. */
  return strncmp(name, "__cudaCDP", 9) == 0 || strncmp(name, "cuda", 4) == 0;
}

static uint64_t arg_u64(const sg_thread *t, const sg_callsite *cs, uint32_t k, unsigned size) {
  uint64_t v = 0;
  if (k < cs->nargs) memcpy(&v, t->local + t->frames[t->nframes - 1].local_base + cs->arg_off[k], size);
  return v;
}

/* Copies a NUL-terminated device string (truncated at MAX_STR-1); NULL after an address error. */
static char *read_str(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, uint64_t a, char *buf) {
  if (a == 0) { strcpy(buf, "(null)"); return buf; }
  for (size_t i = 0; i < MAX_STR - 1; i++) {
    const uint8_t *p = sg_mem_at(bc, t, in, SP_GENERIC, a + i, 1);
    if (!p) return NULL;
    buf[i] = (char)*p;
    if (!*p) return buf;
  }
  buf[MAX_STR - 1] = 0;
  return buf;
}

static int read_arg(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, uint64_t args, uint64_t *off, unsigned sz,
                    uint64_t *v) {
  *off = (*off + sz - 1) / sz * sz;
  const uint8_t *p = sg_mem_at(bc, t, in, SP_GENERIC, args + *off, sz);
  if (!p) return -1;
  *v = 0;
  memcpy(v, p, sz);
  *off += sz;
  return 0;
}

static void emit(const sg_block_ctx *bc, int fd, const char *s, size_t n) {
  const sg_ptx_launch *l = bc->launch;
  if (l && l->output) {
    l->output(l->output_arg, fd, s, n);
    return;
  }
  FILE *f = fd == 2 ? stderr : stdout;
  flockfile(f);
  fwrite(s, 1, n, f);
  fflush(f);
  funlockfile(f);
}

static void out_add(char *out, size_t *len, const char *s, size_t n) {
  if (*len + n > MAX_OUT - 1) n = MAX_OUT - 1 - *len;
  memcpy(out + *len, s, n);
  *len += n;
}

static sg_ptx_status do_vprintf(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const sg_callsite *cs) {
  char fmt[MAX_STR], str[MAX_STR], piece[MAX_STR + 64], spec[64];
  uint64_t args = arg_u64(t, cs, 1, 8);
  if (!read_str(bc, t, in, arg_u64(t, cs, 0, 8), fmt)) return bc->status;
  char *out = malloc(MAX_OUT);
  if (!out) return sg_fail(bc, t, SG_PTX_ERR_NOMEM, "out of host memory in printf");
  size_t len = 0;
  uint64_t off = 0;
  for (const char *f = fmt; *f;) {
    if (*f != '%') {
      const char *e = strchr(f, '%');
      size_t n = e ? (size_t)(e - f) : strlen(f);
      out_add(out, &len, f, n);
      f += n;
      continue;
    }
    if (f[1] == '%') { out_add(out, &len, "%", 1); f += 2; continue; }
    /* %[flags][width][.prec][length]conv, without '*' (CUDA's printf does not take it either) */
    const char *s = f++;
    f += strspn(f, "-+ #0");
    f += strspn(f, "0123456789");
    if (*f == '.') { f++; f += strspn(f, "0123456789"); }
    size_t body = (size_t)(f - s);
    int lng = 0;
    while (*f == 'l' || *f == 'h' || *f == 'z' || *f == 'j' || *f == 't' || *f == 'L') {
      if (*f == 'l' || *f == 'z' || *f == 'j' || *f == 't') lng = 1;
      f++;
    }
    char conv = *f ? *f++ : 0;
    if (body > 40 || !conv) break;
    memcpy(spec, s, body);
    uint64_t v = 0;
    int n = 0;
    switch (conv) {
    case 'd': case 'i':
      if (read_arg(bc, t, in, args, &off, lng ? 8 : 4, &v)) goto fail;
      strcpy(spec + body, "lld");
      n = snprintf(piece, sizeof piece, spec, lng ? (long long)v : (long long)(int32_t)v);
      break;
    case 'u': case 'x': case 'X': case 'o':
      if (read_arg(bc, t, in, args, &off, lng ? 8 : 4, &v)) goto fail;
      spec[body] = 'l';
      spec[body + 1] = 'l';
      spec[body + 2] = conv;
      spec[body + 3] = 0;
      n = snprintf(piece, sizeof piece, spec, lng ? (unsigned long long)v : (unsigned long long)(uint32_t)v);
      break;
    case 'c':
      if (read_arg(bc, t, in, args, &off, 4, &v)) goto fail;
      spec[body] = 'c';
      spec[body + 1] = 0;
      n = snprintf(piece, sizeof piece, spec, (int)(unsigned char)v);
      break;
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A': {
      if (read_arg(bc, t, in, args, &off, 8, &v)) goto fail;
      double d;
      memcpy(&d, &v, 8);
      spec[body] = conv;
      spec[body + 1] = 0;
      n = snprintf(piece, sizeof piece, spec, d);
      break;
    }
    case 's':
      if (read_arg(bc, t, in, args, &off, 8, &v)) goto fail;
      if (!read_str(bc, t, in, v, str)) goto fail;
      spec[body] = 's';
      spec[body + 1] = 0;
      n = snprintf(piece, sizeof piece, spec, str);
      break;
    case 'p':
      if (read_arg(bc, t, in, args, &off, 8, &v)) goto fail;
      n = snprintf(piece, sizeof piece, "0x%llx", (unsigned long long)v);
      break;
    default: /* unknown conversion: print it as written */
      n = snprintf(piece, sizeof piece, "%.*s%c", (int)body, s, conv);
      break;
    }
    if (n > 0) out_add(out, &len, piece, (size_t)n < sizeof piece ? (size_t)n : sizeof piece - 1);
  }
  emit(bc, 1, out, len);
  free(out);
  if (cs->nrets) {
    int32_t r = (int32_t)len;
    memcpy(t->local + t->frames[t->nframes - 1].local_base + cs->ret_off[0], &r, 4);
  }
  return SG_PTX_OK;
fail:
  free(out);
  return bc->status;
}

sg_ptx_status sg_builtin_call(sg_block_ctx *bc, sg_thread *t, const sg_insn *in) {
  const sg_callsite *cs = &bc->mod->calls[in->imm];
  if (in->aux == SG_BI_VPRINTF) {
    if (cs->nargs != 2) return sg_fail(bc, t, SG_PTX_ERR_UNSUPPORTED, "vprintf with %u arguments", cs->nargs);
    return do_vprintf(bc, t, in, cs);
  }
  if (in->aux == SG_BI_ASSERTFAIL && cs->nargs >= 4) {
    char msg[MAX_STR], file[MAX_STR], fn[MAX_STR];
    if (!read_str(bc, t, in, arg_u64(t, cs, 0, 8), msg) || !read_str(bc, t, in, arg_u64(t, cs, 1, 8), file) ||
        !read_str(bc, t, in, arg_u64(t, cs, 3, 8), fn))
      return bc->status;
    unsigned line = (unsigned)arg_u64(t, cs, 2, 4);
    char text[3 * MAX_STR + 128];
    int n = snprintf(text, sizeof text, "%s:%u: %s: block [%u,%u,%u], thread [%u,%u,%u] Assertion `%s` failed.\n", file,
                     line, fn, bc->ctaid[0], bc->ctaid[1], bc->ctaid[2], t->tid[0], t->tid[1], t->tid[2], msg);
    if (n > 0) emit(bc, 2, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
    return sg_fail(bc, t, SG_PTX_ERR_TRAP, "assertion `%.200s` failed at %.200s:%u", msg, file, line);
  }
  return sg_fail(bc, t, SG_PTX_ERR_UNSUPPORTED, "unsupported device-runtime call at line %u", in->line);
}
