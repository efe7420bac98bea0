/*
 * Annotation macros of the vgpu API description (docs/spec-language.md). They expand to nothing,
 * so spec/cuda.spec.h compiles against NVIDIA's cuda.h and every prototype is checked by the C
 * compiler; tools/codegen reads the annotations as written.
 */
#ifndef VGSPEC_H
#define VGSPEC_H

#define VG_REMOTE(id)
#define VG_CUSTOM(id)
#define VG_CUSTOM_ALIAS(id)
#define VG_PRIVATE(id)
#define VG_LOCAL
#define VG_UNSUPPORTED
#define VG_ASYNC
#define VG_SYNC
#define VG_WORK
#define VG_CAPTURE_BEGIN
#define VG_CAPTURE_END

#define VG_OUT
#define VG_INOUT
#define VG_OPTIONAL
#define VG_IN_ARRAY(n)
#define VG_OUT_ARRAY(n)
#define VG_IN_BYTES(n)
#define VG_OUT_BYTES(n)
#define VG_STRING
#define VG_OUT_STRING(n)
#define VG_RANGE(n)
#define VG_ALLOC(n)
#define VG_FREE
#define VG_NEW
#define VG_DESTROY
#define VG_NULLABLE

#endif
