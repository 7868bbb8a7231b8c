import { afterAll, expect } from 'vitest';
import type { KernelBenchmark } from '../../src/kernels/benchmark.js';
import type { Backend, Pool3dParams, Storage, TypedArray, View } from '../../src/kernels/index.js';
import { CpuBackend, createBackend, WebGPUBackend } from '../../src/kernels/index.js';
import { gpuBuffer, sizeClass } from '../../src/kernels/webgpu/runtime.js';
import { contiguousStrides, sizeOf as sizeOfShape } from '../../src/kernels/layout.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';

export const cpu = new CpuBackend();

let gpu: Promise<Backend> | null = null;

/**
 * The WebGPU backend (llvmpipe here, the real GPU elsewhere), one per test file. The suite requires an
 * adapter: without one this throws with the Debian packages to install.
 */
export function webgpu(): Promise<Backend> {
  if (!gpu) {
    gpu = createBackend({ backend: 'webgpu', report: (line) => console.log(line) });
    afterAll(async () => { (await gpu!).dispose(); gpu = null; });
  }
  return gpu;
}

/**
 * Whether two kernels computing one formula give the same bits here: on the cpu and on a software adapter, yes; on a
 * GPU the compiler may evaluate exp or a division to other last bits in one kernel than in another, or contract a
 * multiply and an add (WGSL bounds their error, it does not fix their bits), so tests compare within rounding there.
 */
export const sameBitsExpected = (b: Backend): boolean => !(b instanceof WebGPUBackend) || b.rt.software;

/** Two kernels' results of one formula on `b`: the same floats (±0 apart) where sameBitsExpected(b), else within rounding. */
export function expectSameFloats(b: Backend, got: ArrayLike<number>, want: ArrayLike<number>, what: string, atol = 2e-6, rtol = 2e-5): void {
  if (sameBitsExpected(b)) expect(Array.from(got), what).toEqual(Array.from(want));
  else expectClose(got, want, atol, rtol, what);
}

export function view(storage: Storage, shape: readonly number[]): View {
  return { storage, shape, strides: contiguousStrides(shape), offset: 0 };
}

/** Deterministic pseudo-random values in [lo, hi). */
import { randomArray } from '../../src/kernels/random.js';
export { randomArray };

/** Throws naming the worst element when |a − e| > atol + rtol·|e| anywhere (NaN matches NaN). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = 'values'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} ≠ expected ${expected.length}`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (a === e) continue;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) { worst = i; worstExcess = excess; }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

export async function readBoth(gpuBackend: Backend, g: Storage, c: Storage): Promise<[TypedArray, TypedArray]> {
  return [await gpuBackend.read(g), await cpu.read(c)];
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Runs every small (not `large`) benchmark case of a kernel family twice, logs the second run's time and
 * asserts it is a finite time and that the case declares finite work (flops ≥ 0, bytes > 0); returns how many
 * cases ran, for the caller to check against the cases it expects.
 */
export async function runSmallBenchmarks(gpu: Backend, benchmarks: readonly KernelBenchmark[]): Promise<number> {
  let ran = 0;
  for (const b of benchmarks.filter((c) => !c.large)) {
    expect(Number.isFinite(b.flops) && b.flops >= 0, `${b.group} ${b.name}: flops ${b.flops}`).toBe(true);
    expect(Number.isFinite(b.bytes) && b.bytes > 0, `${b.group} ${b.name}: bytes ${b.bytes}`).toBe(true);
    const s = b.setup(gpu);
    s.run();
    await gpu.sync();
    const t0 = performance.now();
    s.run();
    await gpu.sync();
    const ms = performance.now() - t0;
    const rate = b.flops > 0 ? `, ${(b.flops / ms / 1e6).toFixed(2)} GFLOP/s` : '';
    console.log(`${b.group} ${b.name}: ${ms.toFixed(2)} ms${rate} on ${gpu.description}`);
    expect(Number.isFinite(ms) && ms >= 0, `${b.group} ${b.name}: ${ms} ms`).toBe(true);
    s.dispose();
    ran++;
  }
  return ran;
}

/**
 * Uploads `a` into a pooled buffer whose tail past `a` holds NaN (a stale buffer, as a reused one may): a kernel
 * that reads past a tensor's end then shows it, since NaN · 0 = NaN.
 */
export async function uploadOverNaN(gpu: WebGPUBackend, a: Float32Array): Promise<Storage> {
  const stale = gpu.upload(new Float32Array(sizeClass(4 * a.length) / 4).fill(NaN), 'float32');
  gpu.free(stale);
  await gpu.sync();
  const s = gpu.upload(a, 'float32');
  expect(gpuBuffer(s)).toBe(gpuBuffer(stale));
  return s;
}

/** A cpu backend that counts copyInto calls: on WebGPU each is one dispatch. */
export class CopyCountingCpuBackend extends CpuBackend {
  copies = 0;
  constructor() {
    super();
    // the kernels are own properties, set by CpuBackend's constructor
    const copyInto = this.copyInto;
    this.copyInto = (dst: View, src: View): void => { this.copies++; copyInto(dst, src); };
  }
}

/**
 * maxPool3d and its backward on WebGPU against the cpu oracle for one input (`ties`: rounded to few distinct values,
 * so that the first maximum must win on both): indices and values exactly, the backward within float32 rounding.
 */
export async function expectMaxPoolLikeCpu(gpu: Backend, xShape: number[], gyShape: number[], p: Pool3dParams, seed: number, ties: boolean): Promise<void> {
  let x = randomArray(sizeOfShape(xShape), seed);
  if (ties) x = x.map((v) => Math.round(v * 2));
  const gy = randomArray(sizeOfShape(gyShape), seed + 3);
  const c = cpu.maxPool3d(cpu.upload(x, 'float32'), xShape, p);
  const xg = gpu.upload(x, 'float32');
  const w = gpu.maxPool3d(xg, xShape, p);
  expect(Array.from(await gpu.read(w.indices))).toEqual(Array.from(await cpu.read(c.indices)));
  expectClose(await gpu.read(w.values), await cpu.read(c.values), 0, 0, 'values');
  const gyg = gpu.upload(gy, 'float32');
  const gxc = cpu.maxPool3dBackward(cpu.upload(gy, 'float32'), c.indices, gyShape, xShape);
  const gxg = gpu.maxPool3dBackward(gyg, w.indices, gyShape, xShape);
  expectClose(await gpu.read(gxg), await cpu.read(gxc), 1e-6, 1e-6, 'maxPool3dBackward');
  for (const s of [xg, w.values, w.indices, gyg, gxg]) gpu.free(s);
}

/** A named function and the inputs to check its gradient at (float64 on the cpu). */
export type GradcheckCase = [string, (...inputs: Tensor[]) => Tensor, { data: ArrayLike<number>; shape: number[] }[]];

/** Every case passes a float64 gradcheck on the cpu; a failure names its case. */
export async function expectGradchecks(cases: readonly GradcheckCase[]): Promise<void> {
  for (const [what, fn, inputs] of cases) {
    const r = await gradcheck(fn, inputs, { backend: cpu });
    expect(r.ok, `${what}: ${r.message}`).toBe(true);
  }
}

/** a tensor's values as numbers (the tensor kept) */
export async function numbersOf(t: Tensor): Promise<number[]> {
  return Array.from(await t.toArray());
}

/** n evenly spaced values in [−1, 1) in a random order: no ties, so an argmax is stable under gradcheck's steps */
export function distinctValues(n: number, seed: number): number[] {
  const raw = Array.from(randomArray(n, seed));
  const out = new Array<number>(n);
  raw.map((_, i) => i).sort((i, j) => raw[i]! - raw[j]!).forEach((i, r) => { out[i] = -1 + (2 * r) / n; });
  return out;
}

/** a tensor's values as numbers, the tensor disposed */
export async function valuesOf(t: Tensor): Promise<number[]> {
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}
