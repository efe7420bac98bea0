// The product's version, from package.json (the one place it is written), for --version, the
// admin API's /healthz and the vgpu_build_info metric.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

// dist/src/common/version.js and src/common/version.ts both sit three levels below the root.
const PACKAGE = fileURLToPath(new URL('../../../package.json', import.meta.url));

function readVersion(): string {
  try {
    return z.object({ version: z.string().min(1) }).parse(JSON.parse(readFileSync(PACKAGE, 'utf8'))).version;
  } catch {
    return 'unknown';
  }
}

export const VERSION = readVersion();

/** What `TOOL --version` prints. */
export function versionLine(tool: string): string {
  return `${tool} ${VERSION} (node ${process.versions.node})`;
}
