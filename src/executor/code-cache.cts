// The executor bundle's V8 code cache: what the build writes and the launcher checks before V8 sees
// it. V8 checks a cache against its own version, its flags and the source's length only, and does
// not verify the payload's checksum in release builds: a cache of another bundle of the same
// length, or a damaged file, would be deserialized and crash the process. So the container holds
// the SHA-256 of the bundle it was made for and of its payload, and anything that does not match
// is ignored (the bundle is then compiled as if there were no cache).
//
// Container: MAGIC (8 bytes), SHA-256 of the bundle's source (32), SHA-256 of the payload (32),
// the payload (v8::ScriptCompiler::CreateCodeCache's bytes).

import { createHash } from 'node:crypto';
import { Script } from 'node:vm';

const MAGIC = Buffer.from('VGPUCC01', 'latin1');
const HASH = 32;
const HEADER = MAGIC.length + 2 * HASH;

function sha256(b: string | Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** The bundle as one function of CommonJS's five arguments: compiled by vm.Script, whose code
 * cache works on scripts only (not ES modules). */
export function wrapBundle(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
}

/** Compiles the bundle, with V8's cached code when `cachedData` is given. */
export function compileBundle(source: string, filename: string, cachedData?: Buffer): Script {
  return new Script(wrapBundle(source), { filename, ...(cachedData && { cachedData }) });
}

/** The container for `payload`, made for `source`. */
export function packCodeCache(source: string, payload: Buffer): Buffer {
  return Buffer.concat([MAGIC, sha256(source), sha256(payload), payload]);
}

/** The payload of `file` if it was made for `source` and is intact. */
export function unpackCodeCache(source: string, file: Buffer): { payload: Buffer } | { problem: 'stale' | 'corrupt' } {
  if (file.length <= HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return { problem: 'corrupt' };
  const payload = file.subarray(HEADER);
  if (!sha256(payload).equals(file.subarray(MAGIC.length + HASH, HEADER))) return { problem: 'corrupt' };
  if (!sha256(source).equals(file.subarray(MAGIC.length, MAGIC.length + HASH))) return { problem: 'stale' };
  return { payload };
}
