/**
 * Microbenchmarks of every kernel: the cases each kernel file declares (`benchmarks`; conv3d's in
 * bench/conv3d-cases.ts), median time, GFLOP/s
 * and GB/s, and the fraction of a measured peak. GPU time comes from timestamp queries where the adapter has
 * them, else wall-clock time around a GPU sync.
 *
 *   npx tsx bench/kernels.ts [--backend webgpu|cpu] [--large] [--filter TEXT] [--exclude TEXT] [--reps N] [--json FILE]
 * (--filter keeps the cases whose 'group name' contains TEXT, --exclude drops them; e.g. --exclude ' · ' leaves out
 * the per-candidate variants of the conv3d layers, which the tuner of bench/vnet-step.ts --tune measures anyway)
 */
import { writeFileSync } from 'node:fs';
import type { KernelBenchmark } from '../src/kernels/benchmark.js';
import { createBackend, timeRuns, type Backend } from '../src/kernels/index.js';
import { parseBenchArgs } from './args.js';
import { benchmarks as conv3dBenchmarks } from './conv3d-cases.js';

const kernelFiles = ['elementwise-bench', 'reduce', 'norm', 'matmul', 'gather', 'dropout', 'optim', 'pool', 'interpolate', 'grid-sample', 'cdt'];

const args = parseBenchArgs({
  about: 'Microbenchmarks of every kernel: median time, GFLOP/s, GB/s and the fraction of a measured matmul peak.',
  options: {
    backend: { type: 'string', default: 'webgpu', arg: 'auto|webgpu|cpu', help: 'backend' },
    large: { type: 'boolean', help: 'also the large cases (sizes of the LA run)' },
    filter: { type: 'string', arg: 'TEXT', help: "keep the cases whose 'group name' contains TEXT" },
    exclude: { type: 'string', arg: 'TEXT', help: "drop the cases whose 'group name' contains TEXT" },
    reps: { type: 'string', default: '10', arg: 'N', help: 'timed runs per case' },
    json: { type: 'string', arg: 'FILE', help: 'also write the results as JSON' },
  },
});
const large = args.flag('large'), filter = args.string('filter'), exclude = args.string('exclude'), json = args.string('json');
const reps = args.int('reps');

async function collect(): Promise<KernelBenchmark[]> {
  const all: KernelBenchmark[] = [];
  for (const file of kernelFiles) {
    const mod = (await import(`../src/kernels/webgpu/${file}.js`)) as { benchmarks?: KernelBenchmark[] };
    all.push(...(mod.benchmarks ?? []));
  }
  return [...all, ...conv3dBenchmarks];
}



/** A large f32 matmul as the adapter's measured arithmetic peak. */
async function measurePeak(backend: Backend, large: boolean): Promise<number> {
  const n = large ? 4096 : 256;
  const a = backend.fill(n * n, 0.5, 'float32'), b = backend.fill(n * n, 0.25, 'float32');
  try {
    const { ms } = await timeRuns(backend, () => backend.free(backend.matmul(a, b, 1, n, n, n, 0, 0)), 3);
    return (2 * n ** 3) / (ms * 1e6);
  } catch {
    return NaN;
  } finally {
    backend.free(a);
    backend.free(b);
  }
}

const backend = await createBackend({ backend: args.backend(), report: (l) => console.log(l) });
const cases = (await collect()).filter((c) => (large || !c.large) && (!filter || `${c.group} ${c.name}`.includes(filter))
  && (!exclude || !`${c.group} ${c.name}`.includes(exclude)));
const peak = await measurePeak(backend, large);
console.log(`measured f32 matmul peak: ${peak.toFixed(1)} GFLOP/s`);
const rows: { group: string; name: string; ms: number; gflops: number; gbs: number; peakFraction: number; method: string }[] = [];
console.log(`${'kernel'.padEnd(12)} ${'case'.padEnd(44)} ${'median ms'.padStart(10)} ${'GFLOP/s'.padStart(9)} ${'GB/s'.padStart(8)} ${'% peak'.padStart(7)}`);
for (const c of cases) {
  const { run, dispose } = c.setup(backend);
  try {
    const { ms, method } = await timeRuns(backend, run, reps);
    const gflops = c.flops / (ms * 1e6), gbs = c.bytes / (ms * 1e6);
    rows.push({ group: c.group, name: c.name, ms, gflops, gbs, peakFraction: gflops / peak, method });
    console.log(`${c.group.padEnd(12)} ${c.name.padEnd(44)} ${ms.toFixed(3).padStart(10)} ${gflops.toFixed(1).padStart(9)} ${gbs.toFixed(1).padStart(8)} ${(100 * gflops / peak).toFixed(1).padStart(7)}`);
  } catch (e) {
    console.log(`${c.group.padEnd(12)} ${c.name.padEnd(44)} failed: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    dispose();
  }
}
if (json) writeFileSync(json, JSON.stringify({ adapter: backend.description, date: new Date().toISOString(), peakGflops: peak, rows }, null, 2));
backend.dispose();
