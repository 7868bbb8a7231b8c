import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conv3d, fromArray } from 'voxgrad';
import { dice } from 'voxgrad/imaging';
import { dbislLossConfig } from 'voxgrad/dbisl';

/**
 * `npm pack` builds dist/ (prepack) and the tarball installs into a fresh ESM project, where plain `node` runs a
 * consumer's script on the compiled JavaScript and `tsc` type-checks a consumer's TypeScript against the .d.ts.
 * The same script run on the sources (tsx, this repository's tsconfig paths) gives the same numbers.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./consumer/use-voxgrad.mjs', import.meta.url));
const workflowFile = (name: string): string => fileURLToPath(new URL(`./consumer/${name}`, import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** the command's stdout; a failure's error holds its output (tsc writes its errors to stdout) */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const { stdout = '', stderr = '' } = e as { stdout?: string; stderr?: string };
    throw new Error(`${(e as Error).message}\n${stdout}${stderr}`);
  }
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(join(REPO, 'src'), join(e.parentPath, e.name)));
}

let work = '';
let packed: string[] = [];
let consumer = '';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'voxgrad-pack-'));
  const [info] = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', work], REPO)) as { filename: string; files: { path: string }[] }[];
  packed = info.files.map((f) => f.path);
  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // dependencies come from npm's cache when they are there (the registry otherwise); no audit, no funding notes
  run(npm, ['install', join(work, info.filename), '--prefer-offline', '--no-audit', '--no-fund'], consumer);
  copyFileSync(SCRIPT, join(consumer, 'use-voxgrad.mjs'));
  copyFileSync(fileURLToPath(new URL('./consumer/worker-dataset.mjs', import.meta.url)), join(consumer, 'worker-dataset.mjs'));
}, 600_000);

afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

describe('the npm package', () => {
  it('holds compiled JavaScript and declarations for every source file, and nothing else but README, LICENSE and package.json', () => {
    for (const file of packed) expect(file).toMatch(/^(dist\/.+\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/);
    for (const src of sourceFiles(join(REPO, 'src'))) {
      const base = src.replaceAll('\\', '/').replace(/\.ts$/, '');
      expect(packed).toContain(`dist/${base}.js`);
      expect(packed).toContain(`dist/${base}.d.ts`);
    }
  });

  it('runs on plain node from the installed tarball (engine, imaging, dbisl, DataLoader worker threads; cpu and WebGPU), as on the sources', () => {
    const installed = JSON.parse(run(process.execPath, ['use-voxgrad.mjs', '--webgpu'], consumer).trim().split('\n').at(-1)!);
    expect(installed.parameters).toBe(4); // conv weight and bias, batch-norm weight and bias, registered by assignment
    expect(installed.loss).toBeGreaterThan(0);
    expect(installed.niftiDice).toBe(1);
    expect(installed.laLabel).toEqual([0, 1, 1, 0, 1, 1, 0, 0]);
    expect(installed.webgpuSum).toBe(14);
    expect(installed.workersSame).toBe(true);
    expect(installed.workerIds).toHaveLength(3);
    const sources = JSON.parse(run(process.execPath, ['--import', 'tsx', SCRIPT], REPO).trim().split('\n').at(-1)!);
    expect(installed.entry).toMatch(/\/node_modules\/voxgrad\/dist\/index\.js$/);
    expect(sources.entry).toMatch(/\/src\/index\.ts$/);
    expect(installed).toEqual({ ...sources, entry: installed.entry, webgpuSum: 14 });
  });

  it("type-checks a consumer's TypeScript against the package's declarations", () => {
    writeFileSync(join(consumer, 'check.ts'), [
      "import { Conv3d, Module, UNet, type Tensor } from 'voxgrad';",
      "import { dice } from 'voxgrad/imaging';",
      "import { dbislLossConfig } from 'voxgrad/dbisl';",
      'class Net extends Module {',
      '  conv = new Conv3d(1, 2, 3);',
      '  forward(x: Tensor): Tensor { return this.conv.forward(x); }',
      '}',
      'const score: number = dice(new Uint8Array(1), new Uint8Array(1));',
      "const unet: Module = new UNet({ inChannels: 1, outChannels: 2, features: [4, 8], upsample: 'trilinear' });",
      'export { Net, score, dbislLossConfig, unet };',
      '',
    ].join('\n'));
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['check.ts'],
    }));
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    expect(() => run(process.execPath, [tsc, '-p', consumer], consumer)).not.toThrow();
  });

  /** a project beside the consumer (sharing its node_modules) holding `files`, compiled by tsc with the strictest settings a user may have */
  function strictProject(name: string, files: Record<string, string>): string {
    const project = join(work, name);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
    symlinkSync(join(consumer, 'node_modules'), join(project, 'node_modules'), 'dir');
    for (const [file, text] of Object.entries(files)) writeFileSync(join(project, file), text);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true, noUnusedLocals: true, skipLibCheck: false, outDir: 'out',
        typeRoots: [join(REPO, 'node_modules', '@types')], types: ['node'],
      },
      files: Object.keys(files),
    }));
    run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project);
    return project;
  }

  it("the README's TypeScript examples type-check against the package with the strictest settings (noUncheckedIndexedAccess, exactOptionalPropertyTypes)", () => {
    const blocks = [...readFileSync(join(REPO, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(() => strictProject('readme', Object.fromEntries(blocks.map((text, i) => [`example-${i}.ts`, text])))).not.toThrow();
  });

  /** a consumer's workflow compiled in its own strict project and run there on plain node, and run on the sources (tsx): the last line of each, parsed */
  function runWorkflow(name: string): { installed: Record<string, unknown>; sources: Record<string, unknown> } {
    const source = workflowFile(name);
    const project = strictProject(name.replace(/\.ts$/, ''), { [name]: readFileSync(source, 'utf8') });
    const lastLine = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    return {
      installed: lastLine(run(process.execPath, [join('out', name.replace(/\.ts$/, '.js'))], project)),
      sources: lastLine(run(process.execPath, ['--import', 'tsx', source], REPO)),
    };
  }

  it("a researcher's 3-D U-Net workflow (strictest tsc, declarations checked) compiles against the package and runs on plain node, as on the sources", () => {
    const { installed, sources } = runWorkflow('unet-workflow.ts');
    const losses = installed.losses as number[];
    expect(losses).toHaveLength(4);
    expect(losses.at(-1)).toBeLessThan(losses[0]!);
    expect(installed.lrs).toEqual([1, 2, 3, 4].map((e) => 0.01 * (1 + Math.cos(Math.PI * e / 4)) / 2));
    expect(new Set(installed.live as number[]).size).toBe(1); // tidy per step: nothing accumulates
    expect(installed.reloadEqual).toBe(true);
    expect(installed.probabilityShape).toEqual([3, 8, 8, 8]);
    expect(installed.niftiSame).toBe(true);
    expect(installed).toEqual(sources);
  });

  it("a researcher's BraTS-like multi-region workflow (SegResNet, sigmoid Dice, AMP, EMA, resume in a fresh process, WebGPU) compiles against the package and runs on plain node, as on the sources", () => {
    const { installed, sources } = runWorkflow('brats-workflow.ts');
    const losses = installed.losses as number[];
    expect(losses).toHaveLength(6);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(losses.slice(3))).toBeLessThan(mean(losses.slice(0, 3)));
    // LambdaLR: linear warm-up over 2 epochs, then cosine to 0 at epoch 6, read after each scheduler.step()
    expect(installed.lrs).toEqual([1, 2, 3, 4, 5, 6].map((e) => 3e-3 * (e < 2 ? (e + 1) / 2 : (1 + Math.cos(Math.PI * (e - 2) / 4)) / 2)));
    expect(installed.scale).toBe(2 ** 19); // GradScaler: 2^16 doubled every 2 steps without an overflow
    expect(installed.resumeIdentical).toBe(true); // losses, weights, EMA weights and loss scale of the resumed process, bit for bit
    expect(installed.liveAfter).toBe(installed.liveBefore); // three more steps hold nothing more
    expect(installed.labels).toEqual([0, 1, 2, 4]);
    for (const region of Object.values(installed.perRegion as Record<string, { dice: number; hd95: number }>)) {
      expect(region.dice).toBeGreaterThan(0);
      expect(Number.isFinite(region.hd95)).toBe(true);
    }
    expect(installed.niftiSame).toBe(true);
    expect(installed.probabilitiesNiftiSame).toBe(true); // a 4-D NIfTI [X, Y, Z, 3] out and back channels first
    expect(installed.firstWeights).toEqual([0, Math.fround(Math.sin(1) / 10), Math.fround(Math.sin(2) / 10)]); // the file's first floats, as written
    expect(installed.webgpuMaxDiff).toBeLessThan(1e-5); // the EMA model's probabilities on WebGPU against the cpu's
    expect(installed).toEqual(sources);
  });

  it("inside the repository 'voxgrad' resolves to the sources (tsconfig paths; vitest's resolve.tsconfigPaths)", () => {
    expect(typeof Conv3d).toBe('function');
    expect(dice(Uint8Array.of(1), Uint8Array.of(1))).toBe(1);
    expect(dbislLossConfig().lambdaMax).toBeGreaterThan(0);
    expect(fromArray([1]).shape).toEqual([1]);
  });
});
