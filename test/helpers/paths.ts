// Repository paths for tests (compiled to dist/test/helpers, so the root is three levels up).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BUILD = join(ROOT, 'build');
export const GUEST_LIB_DIR = join(BUILD, 'guest');
export const BIN = join(ROOT, 'bin');
