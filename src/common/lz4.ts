// Decompression of LZ4-compressed CALL payloads (docs/protocol.md, "Compression"): the mediator
// asks whether it can (to offer compression), the executor decompresses. Through the system's
// liblz4 with koffi: the same library the guest uses (it dlopens liblz4.so.1), installed by
// `make deps` (liblz4-dev, which softgpu links too), and no native module to build; an npm binding
// would bring its own copy of the codec and a prebuilt binary per platform for one function. A
// host without it simply offers no compression.

import koffi from 'koffi';

import { MAX_PAYLOAD } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';

type Decompress = (src: Buffer, dst: Buffer, srcSize: number, dstCapacity: number) => number;

/** The bound function; null once loading failed (a host without liblz4 offers no compression). */
let decompress: Decompress | null | undefined;

function load(): Decompress | null {
  if (decompress === undefined) {
    try {
      decompress = koffi.load('liblz4.so.1').func('int LZ4_decompress_safe(const uint8_t *src, uint8_t *dst, int srcSize, int dstCapacity)') as Decompress;
    } catch {
      decompress = null;
    }
  }
  return decompress;
}

/** Whether this host can take compressed payloads (liblz4.so.1 loads): the mediator offers
 * compression only then. */
export function lz4Available(): boolean {
  return load() !== null;
}

/** Room for the largest payload a frame may carry once decompressed. */
let scratch: Buffer | undefined;

/**
 * Decompresses a compressed CALL payload, buf[start, end): u32 size, then an LZ4 block. Returns
 * the real payload (valid until the next call). A size beyond what a frame may carry, a block that
 * does not decompress, or one that decompresses to another size is a protocol error: it ends this
 * connection only, and no more than MAX_PAYLOAD bytes are ever written.
 */
export function decompressPayload(buf: Buffer, start: number, end: number): Buffer {
  if (end - start < 4) throw new ProtocolError('compressed payload shorter than its size');
  const size = buf.readUInt32LE(start);
  if (size > MAX_PAYLOAD) throw new ProtocolError(`compressed payload claims ${size} bytes, more than a frame may carry (${MAX_PAYLOAD})`);
  scratch ??= Buffer.allocUnsafe(MAX_PAYLOAD);
  const src = buf.subarray(start + 4, end);
  const lz4 = load();
  if (!lz4) throw new ProtocolError('a compressed payload on a host without liblz4');
  const got = lz4(src, scratch, src.length, size);
  if (got !== size) throw new ProtocolError(got < 0 ? 'compressed payload is not a valid LZ4 block' : `compressed payload decompressed to ${got} bytes, not ${size}`);
  return scratch.subarray(0, size);
}
