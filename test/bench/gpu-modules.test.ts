import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gpuModules } from '../../bench/gpu-modules.js';

const root = mkdtempSync(join(tmpdir(), 'gpu-modules-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** a package folder with the given package.json fields */
function pkg(dir: string, fields: object): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(fields));
}

/** a project whose tools depend on one shared and one nested version of `util`, and an unneeded browser package */
function project(name: string, extra: (nm: string) => void = () => {}): string {
  const dir = join(root, name), nm = join(dir, 'node_modules');
  pkg(dir, { dependencies: { engine: '1' }, devDependencies: { tsx: '1', vitest: '1', 'fast-check': '1', puppeteer: '1' } });
  pkg(join(nm, 'engine'), { dependencies: { util: '2' }, optionalDependencies: { 'engine-darwin': '1' } });
  pkg(join(nm, 'util'), {});
  pkg(join(nm, 'tsx'), { dependencies: { esbuild: '1' } });
  pkg(join(nm, 'esbuild'), { optionalDependencies: { '@esbuild/linux-x64': '1', '@esbuild/darwin-arm64': '1' } });
  pkg(join(nm, '@esbuild/linux-x64'), {});
  pkg(join(nm, 'vitest'), { dependencies: { util: '1' }, peerDependencies: { vite: '1', '@vitest/ui': '1' } });
  pkg(join(nm, 'vitest/node_modules/util'), {});
  pkg(join(nm, 'vite'), {});
  pkg(join(nm, 'fast-check'), { dependencies: { 'pure-rand': '1' } });
  pkg(join(nm, 'pure-rand'), {});
  pkg(join(nm, 'puppeteer'), { dependencies: { 'chromium-bidi': '1' } });
  pkg(join(nm, 'chromium-bidi'), {});
  extra(nm);
  return dir;
}

describe('bench/gpu-modules.ts', () => {
  it('keeps what the runtime dependencies and tsx, vitest and fast-check reach, nested versions included', () => {
    expect(gpuModules(project('ok'))).toEqual([
      'node_modules/@esbuild/linux-x64', 'node_modules/engine', 'node_modules/esbuild', 'node_modules/fast-check',
      'node_modules/pure-rand', 'node_modules/tsx', 'node_modules/util', 'node_modules/vite', 'node_modules/vitest',
      'node_modules/vitest/node_modules/util',
    ]);
  });

  it('leaves out packages of type declarations only and the CSS-only packages with what only they reach', () => {
    const dir = project('typed', (nm) => {
      pkg(join(nm, 'engine'), { dependencies: { util: '2', '@types/util': '1', 'typed-util': '1' } });
      pkg(join(nm, '@types/util'), { main: '', types: 'index.d.ts' });
      writeFileSync(join(nm, '@types/util/index.d.ts'), 'export declare const x: number;');
      writeFileSync(join(nm, '@types/util/README.md'), '# types');
      // declarations beside code: needed
      pkg(join(nm, 'typed-util'), { main: 'index.js', types: 'index.d.ts' });
      writeFileSync(join(nm, 'typed-util/index.d.ts'), 'export declare const x: number;');
      writeFileSync(join(nm, 'typed-util/index.js'), 'export const x = 1;');
      pkg(join(nm, 'vite'), { dependencies: { lightningcss: '1' } });
      pkg(join(nm, 'lightningcss'), { optionalDependencies: { 'lightningcss-linux-x64-gnu': '1' } });
      pkg(join(nm, 'lightningcss-linux-x64-gnu'), {});
    });
    const kept = gpuModules(dir);
    expect(kept).toContain('node_modules/typed-util');
    expect(kept).toContain('node_modules/vite');
    for (const left of ['node_modules/@types/util', 'node_modules/lightningcss', 'node_modules/lightningcss-linux-x64-gnu']) expect(kept).not.toContain(left);
  });

  it('names a required package that is not installed, and a GPU tool package.json does not list', () => {
    expect(() => gpuModules(project('missing', (nm) => rmSync(join(nm, 'pure-rand'), { recursive: true }))))
      .toThrow('pure-rand (required from node_modules/fast-check) is not installed: run npm ci');
    const dir = join(root, 'no-vitest');
    pkg(dir, { devDependencies: { tsx: '1', 'fast-check': '1' } });
    expect(() => gpuModules(dir)).toThrow('package.json does not list vitest');
  });
});
