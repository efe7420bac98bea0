/*
 * PTX lexer: identifiers keep their dots (`ld.global.f32`, `%tid.x`, `.reg`) so the parser splits
 * opcodes itself; numbers keep their text (0f/0d float bits, hex, decimal) and are interpreted by
 * sg_parse_lit once the operand type is known.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_front.h"

void sg_errf(sg_err *e, const char *fmt, ...) {
  if (!e || !e->buf || !e->len || e->buf[0]) return; /* keep the first message */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf, e->len, fmt, ap);
  va_end(ap);
}

int sg_tok_is(const sg_tok *t, const char *s) {
  size_t n = strlen(s);
  return t->kind != TK_EOF && t->len == n && memcmp(t->s, s, n) == 0;
}

static int id_start(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c == '%' || c == '.';
}
static int id_char(int c) { return id_start(c) || (c >= '0' && c <= '9'); }

sg_ptx_status sg_lex(const char *src, size_t len, sg_tok **out, size_t *ntok, sg_err *e) {
  size_t cap = len / 4 + 16, n = 0;
  sg_tok *t = malloc(cap * sizeof *t);
  if (!t) return SG_PTX_ERR_NOMEM;
  uint32_t line = 1;
  size_t i = 0;
  while (i < len) {
    char c = src[i];
    if (c == '\n') { line++; i++; continue; }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { i++; continue; }
    if (c == '/' && i + 1 < len && src[i + 1] == '/') {
      while (i < len && src[i] != '\n') i++;
      continue;
    }
    if (c == '/' && i + 1 < len && src[i + 1] == '*') {
      i += 2;
      while (i + 1 < len && !(src[i] == '*' && src[i + 1] == '/')) { if (src[i] == '\n') line++; i++; }
      if (i + 1 >= len) { sg_errf(e, "line %u: unterminated comment", line); free(t); return SG_PTX_ERR_PARSE; }
      i += 2;
      continue;
    }
    if (n + 1 >= cap) {
      cap *= 2;
      sg_tok *nt = realloc(t, cap * sizeof *t);
      if (!nt) { free(t); return SG_PTX_ERR_NOMEM; }
      t = nt;
    }
    sg_tok *k = &t[n++];
    k->line = line;
    k->s = src + i;
    k->ch = 0;
    size_t st = i;
    if (id_start((unsigned char)c)) {
      /* `::` joins qualifier parts (ld.global.L1::no_allocate, shared::cta) into one token. */
      for (;;) {
        while (i < len && id_char((unsigned char)src[i])) i++;
        if (i + 2 < len && src[i] == ':' && src[i + 1] == ':' && id_char((unsigned char)src[i + 2])) { i += 2; continue; }
        break;
      }
      k->kind = TK_ID;
    } else if (c >= '0' && c <= '9') {
      int hexlike = i + 1 < len && (src[i + 1] == 'x' || src[i + 1] == 'X' || src[i + 1] == 'f' ||
                                    src[i + 1] == 'F' || src[i + 1] == 'd' || src[i + 1] == 'D') && c == '0';
      while (i < len) {
        char d = src[i];
        if ((d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || d == '.') {
          i++;
        } else if ((d == '+' || d == '-') && !hexlike && (src[i - 1] == 'e' || src[i - 1] == 'E')) {
          i++;
        } else {
          break;
        }
      }
      k->kind = TK_NUM;
    } else if (c == '"') {
      i++;
      while (i < len && src[i] != '"' && src[i] != '\n') i++;
      if (i >= len || src[i] != '"') { sg_errf(e, "line %u: unterminated string", line); free(t); return SG_PTX_ERR_PARSE; }
      i++;
      k->kind = TK_STR;
    } else if (strchr(",;:[]{}()+-@!|<>=*", c)) {
      i++;
      k->kind = TK_PUNCT;
      k->ch = c;
    } else {
      sg_errf(e, "line %u: unexpected character '%c' (0x%02x)", line, c >= 32 && c < 127 ? c : '?',
              (unsigned char)c);
      free(t);
      return SG_PTX_ERR_PARSE;
    }
    if (i - st > UINT32_MAX / 2) { free(t); sg_errf(e, "line %u: token too long", line); return SG_PTX_ERR_PARSE; }
    k->len = (uint32_t)(i - st);
  }
  t[n].kind = TK_EOF;
  t[n].s = src + len;
  t[n].len = 0;
  t[n].line = line;
  t[n].ch = 0;
  *out = t;
  *ntok = n;
  return SG_PTX_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Returns 0 on success. Integer literals wrap to 64 bits like PTX's own; a trailing U is allowed. */
int sg_parse_lit(const char *s, size_t n, int neg, sg_lit *out) {
  memset(out, 0, sizeof *out);
  if (n == 0 || n > 80) return -1;
  if (n >= 2 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F' || s[1] == 'd' || s[1] == 'D')) {
    size_t want = (s[1] == 'f' || s[1] == 'F') ? 8 : 16;
    if (n != want + 2) return -1;
    uint64_t v = 0;
    for (size_t i = 2; i < n; i++) {
      int h = hexval(s[i]);
      if (h < 0) return -1;
      v = v << 4 | (uint64_t)h;
    }
    if (want == 8) {
      out->is_f32bits = 1;
      if (neg) v ^= 0x80000000u;
    } else {
      out->is_f64bits = 1;
      if (neg) v ^= 0x8000000000000000ull;
    }
    out->bits = v;
    return 0;
  }
  if (n > 0 && (s[n - 1] == 'U' || s[n - 1] == 'u')) n--;
  int isfloat = 0;
  int ishex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  for (size_t i = 0; i < n && !ishex; i++)
    if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') isfloat = 1;
  if (isfloat) {
    char buf[96];
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end) return -1;
    out->is_float = 1;
    out->dv = neg ? -d : d;
    return 0;
  }
  uint64_t v = 0;
  size_t i = 0;
  unsigned base = 10;
  if (ishex) { base = 16; i = 2; }
  else if (n >= 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) { base = 2; i = 2; }
  else if (n >= 2 && s[0] == '0') { base = 8; i = 1; }
  if (i >= n) return -1;
  for (; i < n; i++) {
    int h = hexval(s[i]);
    if (h < 0 || (unsigned)h >= base) return -1;
    v = v * base + (unsigned)h;
  }
  out->bits = neg ? (uint64_t)0 - v : v;
  return 0;
}
