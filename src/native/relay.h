/*
 * Byte relay between two stream sockets, for vgpu-vsock-listen (vsock-listen.c): the guest's
 * AF_VSOCK connection on one side, the mediator's Unix socket on the other.
 */
#ifndef VG_RELAY_H
#define VG_RELAY_H

#include <stddef.h>

/* Bytes buffered per direction: a guest's bulk copy moves through in pieces of this size. */
#define VG_RELAY_BUF (256u * 1024u)

/*
 * Copies a->b and b->a until both directions have ended. End of input on one side is passed on as
 * shutdown(SHUT_WR) of the other, once what was read before it is written, so a half-closed
 * connection stays half-closed. Both descriptors are made non-blocking and left open. Returns 0
 * when both directions ended with EOF, or -errno of the first failed read or write (the other
 * direction is abandoned then: a broken connection has no useful half).
 */
int vg_relay(int a, int b);

#endif
