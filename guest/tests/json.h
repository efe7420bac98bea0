/* A small JSON reader for the test vectors, and the loop over them (test-only; trusts nothing,
 * aborts on bad input). */
#ifndef VG_TEST_JSON_H
#define VG_TEST_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
  jtype t;
  double num;
  char *str;            /* J_STR (NUL-terminated, UTF-8); also the key for members */
  struct jval **items;  /* J_ARR elements or J_OBJ members */
  char **keys;          /* J_OBJ */
  size_t n;
} jval;

jval *json_parse(const char *text);
jval *json_get(const jval *obj, const char *key); /* NULL if absent */
long long json_int(const jval *v);
const char *json_str(const jval *v);

/* Reads a vectors file (the path in $env, else `fallback`, relative to the repository root) and
 * returns its top-level array; exits with a message when it cannot. */
jval *json_load_array(const char *env, const char *fallback);
/* Hex text -> bytes (at most cap); exits on bad or over-long input. */
size_t json_unhex(const char *hex, uint8_t *out, size_t cap);

/* The vg_wire_err an invalid case's "error" kind names (test/vectors/README.md); exits on an
 * unknown kind. */
int vector_error(const char *kind);
/* The loop over a vectors array. decode(ctx, bytes, n) returns a vg_wire_err: a case with "expect"
 * must fail with the error its "error" names; any other must decode, then goes to
 * check(ctx, frame, bytes, n, name). Counts the cases into *valid and *invalid. Exits on a
 * mismatch. */
void vectors_run(const jval *cases, int (*decode)(void *ctx, const uint8_t *b, size_t n),
                 void (*check)(void *ctx, const jval *frame, const uint8_t *b, size_t n, const char *name),
                 void *ctx, int *valid, int *invalid);

#endif
