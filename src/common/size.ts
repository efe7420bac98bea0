// Sizes as operators write them: plain bytes ("1048576") or a number with a binary unit ("512M",
// "2G", "1.5GiB", "64 KiB"). Every unit is a power of 1024 — GPU memory is sized in binary
// units, and accepting "G" as 10^9 would make a "2G" quota 7% smaller than the operator meant.
// Arithmetic is done on BigInt so "1.1G" is exact before it is rounded down to whole bytes.

import { VgpuError } from './errors.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
// Long enough for any size below 2^53 written out in full, short enough that BigInt work on it is trivial.
const MAX_INPUT = 40;

// number, optional space, optional unit: K, KB, KiB, k, kib... (case-insensitive), or B alone.
const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgtp])(i?b)?|(b))?$/i;

function invalid(input: string, reason: string): VgpuError {
  return new VgpuError('VGPU_ERR_INVALID_SIZE', { input, reason });
}

/** Bytes for `input`; throws VGPU_ERR_INVALID_SIZE with the reason. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) {
      throw invalid(String(input), 'a size in bytes must be a whole number from 0 to 2^53-1');
    }
    return input;
  }
  const text = input.trim();
  if (text === '') throw invalid(input, 'it is empty');
  if (text.length > MAX_INPUT) throw invalid(input.slice(0, MAX_INPUT) + '...', 'it is too long');
  if (text.startsWith('-')) throw invalid(input, 'sizes cannot be negative');
  const m = SIZE_RE.exec(text);
  if (!m) throw invalid(input, 'expected a number with an optional unit (B, K, M, G, T, P)');
  const [, num = '', unitLetter] = m;
  const power = unitLetter ? 'BKMGTP'.indexOf(unitLetter.toUpperCase()) : 0;
  const dot = num.indexOf('.');
  const digits = dot < 0 ? num : num.slice(0, dot) + num.slice(dot + 1);
  const decimals = dot < 0 ? 0 : num.length - dot - 1;
  if (power === 0 && decimals > 0 && /[1-9]/.test(num.slice(dot + 1))) {
    throw invalid(input, 'a size in bytes must be a whole number');
  }
  const bytes = (BigInt(digits) * 1024n ** BigInt(power)) / 10n ** BigInt(decimals);
  if (bytes > MAX_SAFE) throw invalid(input, 'it is larger than the largest size supported (2^53-1 bytes, about 8 PiB)');
  return Number(bytes);
}

/** Short human form, "2 GiB", "1.5 GiB", "100 B"; at most two decimals, so not always exact. */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) return String(bytes);
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 ? String(value) : String(Math.round(value * 100) / 100);
  return `${shown} ${UNITS[unit]}`;
}
