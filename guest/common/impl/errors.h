/*
 * The VGPU_ERR_* catalogue carried by ERROR frames (docs/protocol.md, "Error model"); mirrors
 * src/protocol/errors.ts. One X-macro list gives each code its name and a message for logs.
 */
#ifndef VG_ERRORS_H
#define VG_ERRORS_H

#define VG_ERR_LIST(X)                                                               \
  X(1, PROTOCOL, "malformed frame or handshake")                                     \
  X(2, VERSION, "unsupported protocol major version")                                \
  X(3, AUTH, "unknown or missing VM token")                                          \
  X(4, ADMISSION, "the VM's pool has no room, or the VM is disabled")                \
  X(5, INTERNAL, "the host failed")                                                  \
  X(6, SHUTDOWN, "the mediator is shutting down")                                    \
  X(7, KILLED, "an operator ended the session")

enum {
#define VG__ERR_ENUM(code, name, msg) VGPU_ERR_##name = code,
  VG_ERR_LIST(VG__ERR_ENUM)
#undef VG__ERR_ENUM
};

static inline const char *vg_err_name(unsigned code) {
  switch (code) {
#define VG__ERR_NAME(code, name, msg) case code: return "VGPU_ERR_" #name;
    VG_ERR_LIST(VG__ERR_NAME)
#undef VG__ERR_NAME
  }
  return "VGPU_ERR_UNKNOWN";
}

#endif
