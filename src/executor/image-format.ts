// What an uploaded module image may be: what the guest library ships (guest/cuda/impl/image.c,
// vg_image_span) and a driver can load from bytes alone (docs/reference/cudart-driver-interface.md
// §5): a fatbin container, exactly its header's size, or several in a row (an -rdc image's linked
// container and its pre-link containers, which the executor hands the driver behind a wrapper of
// its own: containerStarts); a 64-bit little-endian ELF cubin for CUDA (EM_CUDA); or PTX text,
// NUL-terminated. Anything else is refused before it is stored, so the
// store holds no bytes that are not a module, and the driver is never handed an image that sends
// it reading past its end (a container larger than its bytes, PTX without its NUL) or into guest
// addresses (a __fatBinC_Wrapper_t, whose `data` is a pointer in the guest's memory).

export const FATBIN_MAGIC = 0xba55ed50;
export const FATBINC_MAGIC = 0x466243b1;
const FATBIN_HEADER = 16;
const FATBIN_ENTRY_HEADER = 64;
const ELF_HEADER = 64;
const EM_CUDA = 190;

function isElf(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** A byte PTX text may hold (its terminating NUL aside): text and its whitespace. */
function textByte(c: number): boolean {
  return c >= 0x20 ? c !== 0x7f : c >= 0x09 && c <= 0x0d;
}

/** `head` (the image's first bytes, or all of it) as the start of PTX: optional whitespace, then a
 * directive or a comment; every byte text, a NUL only as the image's last. */
function ptxStartProblem(head: Buffer, total: number): string | undefined {
  let i = 0;
  while (i < head.length && (head[i] === 0x20 || (head[i]! >= 0x09 && head[i]! <= 0x0d))) i++;
  const start = head.subarray(i, i + 2).toString('latin1');
  const complete = i + 2 <= head.length;
  if (complete && !start.startsWith('.') && start !== '//' && start !== '/*') {
    return 'not a fatbin container, an ELF cubin or PTX text (PTX starts with a directive or a comment)';
  }
  const body = head.length === total ? head.length - 1 : head.length;
  for (let k = 0; k < body; k++) {
    if (!textByte(head[k]!)) return `PTX text with a byte 0x${head[k]!.toString(16).padStart(2, '0')} at ${k}`;
  }
  if (head.length === total && head[total - 1] !== 0) return 'PTX text without its terminating NUL';
  return undefined;
}

/** Containers of an -rdc image at most (the guest's and softgpu's limit too). */
export const MAX_CONTAINERS = 4097;

/** The header fields of a fatbin container, when `head` holds them: the first container ends
 * within the image (at its end, or where the next container starts). */
function fatbinProblem(head: Buffer, total: number): string | undefined {
  if (total < FATBIN_HEADER) return `a fatbin container of ${total} bytes`;
  if (head.length < FATBIN_HEADER) return undefined;
  const hsize = head.readUInt16LE(6);
  const fsize = Number(head.readBigUInt64LE(8));
  if (hsize < FATBIN_HEADER || hsize + fsize > total || (hsize + fsize < total && total - hsize - fsize < FATBIN_HEADER)) {
    return `a fatbin container whose header (${hsize} bytes, ${fsize} of entries) does not match its ${total} bytes`;
  }
  return undefined;
}

/** Every entry of the whole fatbin container b within its bytes, and at least one. */
function fatbinEntriesProblem(b: Buffer): string | undefined {
  let p = b.readUInt16LE(6);
  let entries = 0;
  while (b.length - p >= FATBIN_ENTRY_HEADER) {
    const ehsize = b.readUInt32LE(p + 4);
    const psize = Number(b.readBigUInt64LE(p + 8));
    const left = b.length - p;
    if (ehsize < FATBIN_ENTRY_HEADER || ehsize > left || psize > left - ehsize) {
      return `a fatbin entry at ${p} (header ${ehsize} bytes, payload ${psize}) past the container's end`;
    }
    p += ehsize + psize;
    entries++;
  }
  return entries === 0 ? 'a fatbin container without entries' : undefined;
}

/**
 * Where each fatbin container of an image that starts with one begins: [0] for a single
 * container, more for an -rdc image's containers in a row. A string says why the bytes are not
 * whole containers, each with its entries.
 */
export function containerStarts(b: Buffer): number[] | string {
  const starts: number[] = [];
  let at = 0;
  while (at < b.length) {
    if (starts.length === MAX_CONTAINERS) return `more than ${MAX_CONTAINERS} fatbin containers`;
    if (b.length - at < FATBIN_HEADER || b.readUInt32LE(at) !== FATBIN_MAGIC) return `no fatbin container at ${at}`;
    const hsize = b.readUInt16LE(at + 6);
    const end = at + hsize + Number(b.readBigUInt64LE(at + 8));
    if (hsize < FATBIN_HEADER || end > b.length) return `a fatbin container at ${at} past the image's end`;
    const entries = fatbinEntriesProblem(b.subarray(at, end));
    if (entries !== undefined) return entries;
    starts.push(at);
    at = end;
  }
  return starts;
}

function elfProblem(head: Buffer, total: number): string | undefined {
  if (total < ELF_HEADER) return `an ELF image of ${total} bytes`;
  if (head.length < ELF_HEADER) return undefined;
  if (head[4] !== 2 || head[5] !== 1) return 'an ELF image that is not 64-bit little-endian';
  if (head.readUInt16LE(0x12) !== EM_CUDA) return `an ELF image for machine ${head.readUInt16LE(0x12)}, not a CUDA cubin`;
  const phEnd = Number(head.readBigUInt64LE(0x20)) + head.readUInt16LE(0x36) * head.readUInt16LE(0x38);
  const shEnd = Number(head.readBigUInt64LE(0x28)) + head.readUInt16LE(0x3a) * head.readUInt16LE(0x3c);
  if (phEnd > total || shEnd > total) return 'an ELF image whose headers reach past its end';
  return undefined;
}

/**
 * Why an upload of `total` bytes that starts with `head` cannot be a module (undefined: it may
 * be). `head` may be shorter than the image: what it does not hold is checked by imageProblem.
 */
export function imageHeadProblem(head: Buffer, total: number): string | undefined {
  if (head.length >= 4) {
    const magic = head.readUInt32LE(0);
    if (magic === FATBIN_MAGIC) return fatbinProblem(head, total);
    if (magic === FATBINC_MAGIC) return 'a fatbin wrapper (it points into the guest\'s memory: the guest sends the container behind it)';
  }
  if (isElf(head)) return elfProblem(head, total);
  return ptxStartProblem(head, total);
}

/** Why a whole uploaded image cannot be a module (undefined: it may be). */
export function imageProblem(b: Buffer): string | undefined {
  const head = imageHeadProblem(b, b.length);
  if (head !== undefined) return head;
  if (b.length >= 4 && b.readUInt32LE(0) === FATBIN_MAGIC) {
    const starts = containerStarts(b);
    return typeof starts === 'string' ? starts : undefined;
  }
  if (isElf(b)) return undefined;
  if (b.indexOf('.version') < 0 || b.indexOf('.target') < 0) return 'PTX text without .version and .target';
  return undefined;
}
