/* Recursive-descent JSON reader for the test vectors. Allocations are never freed: the test
 * process exits right after. */
#include "json.h"

#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *p;

static void die(const char *why) {
  fprintf(stderr, "json: %s near '%.20s'\n", why, p);
  exit(1);
}

static void ws(void) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
}

static jval *mk(jtype t) {
  jval *v = calloc(1, sizeof *v);
  if (!v) die("oom");
  v->t = t;
  return v;
}

static void put_utf8(char **o, unsigned cp) {
  char *q = *o;
  if (cp < 0x80) *q++ = (char)cp;
  else if (cp < 0x800) *q++ = (char)(0xC0 | (cp >> 6)), *q++ = (char)(0x80 | (cp & 0x3F));
  else *q++ = (char)(0xE0 | (cp >> 12)), *q++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *q++ = (char)(0x80 | (cp & 0x3F));
  *o = q;
}

static char *str(void) {
  if (*p != '"') die("expected string");
  p++;
  char *out = malloc(strlen(p) + 1), *o = out;
  if (!out) die("oom");
  while (*p != '"') {
    if (!*p) die("unterminated string");
    if (*p == '\\') {
      p++;
      switch (*p) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        unsigned cp;
        if (sscanf(p + 1, "%4x", &cp) != 1) die("bad \\u");
        put_utf8(&o, cp);
        p += 4;
        break;
      }
      default: *o++ = *p;
      }
      p++;
    } else {
      *o++ = *p++;
    }
  }
  p++;
  *o = 0;
  return out;
}

static jval *value(void);

static void push(jval *v, jval *item, char *key) {
  v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
  v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
  if (!v->items || !v->keys) die("oom");
  v->items[v->n] = item;
  v->keys[v->n] = key;
  v->n++;
}

static jval *value(void) {
  ws();
  jval *v;
  if (*p == '{') {
    v = mk(J_OBJ);
    p++;
    ws();
    if (*p == '}') return p++, v;
    for (;;) {
      ws();
      char *k = str();
      ws();
      if (*p++ != ':') die("expected ':'");
      push(v, value(), k);
      ws();
      if (*p == ',') { p++; continue; }
      if (*p++ != '}') die("expected '}'");
      return v;
    }
  }
  if (*p == '[') {
    v = mk(J_ARR);
    p++;
    ws();
    if (*p == ']') return p++, v;
    for (;;) {
      push(v, value(), NULL);
      ws();
      if (*p == ',') { p++; continue; }
      if (*p++ != ']') die("expected ']'");
      return v;
    }
  }
  if (*p == '"') {
    v = mk(J_STR);
    v->str = str();
    return v;
  }
  if (!strncmp(p, "true", 4)) return p += 4, v = mk(J_BOOL), v->num = 1, v;
  if (!strncmp(p, "false", 5)) return p += 5, mk(J_BOOL);
  if (!strncmp(p, "null", 4)) return p += 4, mk(J_NULL);
  char *end;
  v = mk(J_NUM);
  v->num = strtod(p, &end);
  if (end == p) die("bad value");
  p = end;
  return v;
}

jval *json_parse(const char *text) {
  p = text;
  jval *v = value();
  ws();
  if (*p) die("trailing characters");
  return v;
}

jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->t != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (!strcmp(obj->keys[i], key)) return obj->items[i];
  return NULL;
}

long long json_int(const jval *v) {
  if (!v || v->t != J_NUM) {
    fprintf(stderr, "json: expected a number\n");
    exit(1);
  }
  return (long long)v->num;
}

const char *json_str(const jval *v) {
  if (!v || v->t != J_STR) {
    fprintf(stderr, "json: expected a string\n");
    exit(1);
  }
  return v->str;
}

jval *json_load_array(const char *env, const char *fallback) {
  const char *path = getenv(env);
  if (!path) path = fallback;
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "json: cannot open %s (run from the repository root or set %s)\n", path, env);
    exit(1);
  }
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  int more = fgetc(f) != EOF;
  fclose(f);
  if (more) {
    fprintf(stderr, "json: %s is larger than %zu bytes\n", path, sizeof buf - 1);
    exit(1);
  }
  buf[n] = 0;
  jval *v = json_parse(buf);
  if (v->t != J_ARR) {
    fprintf(stderr, "json: %s is not an array\n", path);
    exit(1);
  }
  return v;
}

size_t json_unhex(const char *h, uint8_t *out, size_t cap) {
  size_t n = strlen(h) / 2;
  if (n > cap || strlen(h) % 2) {
    fprintf(stderr, "json: hex string of %zu characters does not fit %zu bytes\n", strlen(h), cap);
    exit(1);
  }
  for (size_t i = 0; i < n; i++) {
    unsigned b;
    if (sscanf(h + 2 * i, "%2x", &b) != 1) {
      fprintf(stderr, "json: bad hex near '%.8s'\n", h + 2 * i);
      exit(1);
    }
    out[i] = (uint8_t)b;
  }
  return n;
}

int vector_error(const char *kind) {
  static const struct { const char *k; int e; } map[] = {
      {"truncated", VG_WIRE_ETRUNC},       {"oversized", VG_WIRE_EOVERSIZE},     {"type", VG_WIRE_ETYPE},
      {"flags", VG_WIRE_EFLAGS},           {"magic", VG_WIRE_EMAGIC},            {"short_payload", VG_WIRE_ESHORT},
      {"string_past_end", VG_WIRE_ESTR},   {"string_too_long", VG_WIRE_ESTR},    {"trailing", VG_WIRE_ETRAIL},
      {"limit", VG_WIRE_ELIMIT}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(map[i].k, kind)) return map[i].e;
  fprintf(stderr, "vectors: unknown error kind %s\n", kind);
  exit(1);
}

void vectors_run(const jval *cases, int (*decode)(void *ctx, const uint8_t *b, size_t n),
                 void (*check)(void *ctx, const jval *frame, const uint8_t *b, size_t n, const char *name),
                 void *ctx, int *valid, int *invalid) {
  static uint8_t buf[1 << 16];
  *valid = *invalid = 0;
  for (size_t i = 0; i < cases->n; i++) {
    const jval *c = cases->items[i];
    const char *name = json_str(json_get(c, "name"));
    size_t n = json_unhex(json_str(json_get(c, "hex")), buf, sizeof buf);
    int e = decode(ctx, buf, n);
    if (json_get(c, "expect")) {
      int want = vector_error(json_str(json_get(c, "error")));
      if (e != want) {
        fprintf(stderr, "vectors: %s: decode gave %d (%s), want %d\n", name, e, vg_wire_strerror(e), want);
        exit(1);
      }
      ++*invalid;
      continue;
    }
    if (e) {
      fprintf(stderr, "vectors: %s: valid frame rejected: %s\n", name, vg_wire_strerror(e));
      exit(1);
    }
    check(ctx, json_get(c, "frame"), buf, n, name);
    ++*valid;
  }
}
