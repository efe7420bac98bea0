// Names and messages of CUresults, for reasons that carry only the number ("cuInit failed with
// CUresult 100"). The table is spec/curesult.tsv, the one the guest's cuGetErrorString is made from.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// dist/src/doctor/curesult.js and src/doctor/curesult.ts both sit three levels below the root.
const TABLE = fileURLToPath(new URL('../../../spec/curesult.tsv', import.meta.url));

let names: Map<number, string> | undefined;

function table(): Map<number, string> {
  if (names) return names;
  names = new Map();
  try {
    for (const line of readFileSync(TABLE, 'utf8').split('\n')) {
      const [code, name, , message] = line.split('\t');
      if (code !== undefined && /^\d+$/.test(code) && name && message) names.set(Number(code), `${name}: ${message}`);
    }
  } catch {
    /* an installation without spec/: the numbers stay as they are */
  }
  return names;
}

/** "... CUresult 100" → "... CUresult 100 (CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected)". */
export function explainCuresults(text: string): string {
  return text.replace(/CUresult (\d+)/g, (m, n: string) => {
    const d = table().get(Number(n));
    return d ? `${m} (${d})` : m;
  });
}
