import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** README's Architecture: data flows one way, each folder of src/ imports only from itself and the folders after it. */
const LAYERS = ['dbisl', 'imaging', 'models', 'autograd', 'tensor', 'kernels'];

/** Every relative import (static, type-only, re-export or dynamic) from one layer's file into an earlier layer. */
function upwardImports(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const layer = LAYERS.indexOf(relative(SRC, file).split('/')[0]!);
    if (layer < 0) continue; // the package's entries (index.ts, imaging.ts) gather from every layer
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:\bfrom\s+|\bimport\(\s*)'(\.\.?\/[^']+)'/g)) {
      const target = LAYERS.indexOf(relative(SRC, normalize(join(dirname(file), m[1]!))).split('/')[0]!);
      if (target >= 0 && target < layer) found.push(`${relative(SRC, file)} imports ${m[1]}`);
    }
  }
  return found;
}

it('src/ folders import only downwards: dbisl → imaging → models → autograd → tensor → kernels', () => {
  expect(upwardImports()).toEqual([]);
});
