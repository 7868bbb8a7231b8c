import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Importing the library must not load h5wasm (4 MB of JavaScript with the WebAssembly inlined: seconds per process
 * under tsx) until an LA file is read. A child process whose module resolution refuses h5wasm imports both entries and
 * uses a transform; the LA tests check that reading still works once h5wasm is loaded on demand.
 */

const refuseH5wasm = `export async function resolve(specifier, context, next) {
  if (specifier === 'h5wasm' || specifier.startsWith('h5wasm/')) throw new Error('h5wasm was imported: ' + specifier);
  return next(specifier, context);
}`;
const registerHook = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(refuseH5wasm)}`)});`;
const script = `
const voxgrad = await import('./src/index.ts');
const imaging = await import('./src/imaging.ts');
const flipped = new imaging.Flip({ keys: ['image'], spatialAxis: [0] }).apply({ image: { data: new Float32Array([1, 2]), shape: [2, 1, 1] } });
console.log(typeof voxgrad.conv3d, Array.from(flipped.image.data).join(','));
`;

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(registerHook)}`,
    '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('importing voxgrad', () => {
  it('does not load h5wasm until an LA file is read', async () => {
    const r = await run();
    expect(r.stderr).not.toMatch(/h5wasm was imported/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function 2,1');
  }, 60_000);
});
