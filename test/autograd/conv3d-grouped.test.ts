import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, concat, conv3d, gradcheck, permute, split, type Conv3dOptions } from '../../src/autograd/index.js';
import { WebGPUBackend, type Backend } from '../../src/kernels/index.js';
import { dispose, fromArray, sizeOf, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * F.conv3d with groups: groups of at most 4 filters ((Ci/groups)·(Co/groups) ≤ 4) run one recorded op on the
 * grouped kernels, wider ones one convolution per group. Gradients by gradcheck (float64 on the cpu, float32 on
 * WebGPU), both paths against each other, and the dispatches of a depthwise convolution.
 */

interface Input { data: ArrayLike<number>; shape: readonly number[] }
const input = (shape: readonly number[], seed: number): Input => ({ data: randomArray(sizeOf(shape), seed, -1, 1), shape });

async function expectGrad(backend: Backend, fn: (...xs: Tensor[]) => Tensor, inputs: Input[], what: string): Promise<void> {
  const r = await gradcheck(fn, inputs, { backend });
  expect(r.ok, `${what}: ${r.message}`).toBe(true);
}

/** The split path written out: one ungrouped conv3d per group, concatenated (what F.conv3d ran for every group before). */
function perGroup(x: Tensor, w: Tensor, b: Tensor | null, o: Conv3dOptions & { groups: number }): Tensor {
  const g = o.groups, plain = { ...o, groups: 1 };
  const xs = split(x, x.shape[1] / g, 1), ws = split(w, w.shape[0] / g, 0), bs = b ? split(b, b.shape[0] / g, 0) : null;
  return concat(xs.map((xg, j) => conv3d(xg, ws[j], bs ? bs[j] : null, plain)), 1);
}

const gradCases: { name: string; x: number[]; w: number[]; bias: boolean; o: Conv3dOptions & { groups: number } }[] = [
  { name: 'depthwise 3³ padding 1', x: [1, 3, 3, 3, 3], w: [3, 1, 3, 3, 3], bias: true, o: { groups: 3, padding: 1 } },
  { name: 'multiplier 2, stride 2, dilation', x: [2, 2, 4, 3, 4], w: [4, 1, 2, 2, 2], bias: false, o: { groups: 2, stride: 2, dilation: [1, 2, 1] } },
  { name: '2 in, 2 out per group, mixed stride and padding', x: [1, 4, 3, 4, 3], w: [4, 2, 2, 2, 2], bias: true, o: { groups: 2, stride: [1, 2, 1], padding: [1, 0, 1] } },
  { name: 'wider groups (the split path)', x: [1, 4, 2, 3, 2], w: [6, 2, 1, 2, 1], bias: true, o: { groups: 2, padding: [0, 1, 0] } },
];

describe('F.conv3d with groups: gradients', () => {
  it('gradcheck, float64 on the cpu', async () => {
    for (const c of gradCases) {
      await expectGrad(cpu, (x, w, b) => conv3d(x, w, c.bias ? b : null, c.o), [input(c.x, 1), input(c.w, 2), input([c.w[0]], 3)], c.name);
    }
    // a non-contiguous input
    await expectGrad(cpu, (x, w) => conv3d(permute(x, [0, 1, 4, 3, 2]), w, null, { groups: 2, padding: 1 }), [input([1, 2, 3, 2, 2], 4), input([2, 1, 2, 3, 3], 5)], 'permuted input');
  });

  it('gradcheck, float32 on WebGPU (tiny shapes)', async () => {
    const gpu = await webgpu();
    for (const c of gradCases.slice(0, 3)) {
      await expectGrad(gpu, (x, w, b) => conv3d(x, w, c.bias ? b : null, c.o), [input(c.x, 6), input(c.w, 7), input([c.w[0]], 8)], c.name);
    }
  });
});

describe('F.conv3d with groups: the grouped op against one conv3d per group', () => {
  const caseArb = fc.record({
    n: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 4 }), cg: fc.integer({ min: 1, max: 3 }), mg: fc.integer({ min: 1, max: 3 }),
    size: fc.tuple(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 })),
    k: fc.integer({ min: 1, max: 3 }), stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 1 }), dilation: fc.integer({ min: 1, max: 2 }),
    bias: fc.boolean(), seed: fc.integer({ min: 1, max: 1e6 }),
  }).filter((r) => r.size.every((s) => r.dilation * (r.k - 1) + 1 <= s + 2 * r.padding));

  /** y and the gradients of Σ y·r w.r.t. x, w and b, through `conv` */
  async function run(backend: Backend, c: CaseOf<typeof caseArb>, conv: typeof perGroup): Promise<Float64Array[]> {
    const dtype = backend.name === 'cpu' ? 'float64' as const : 'float32' as const;
    const xShape = [c.n, c.groups * c.cg, ...c.size], wShape = [c.groups * c.mg, c.cg, c.k, c.k, c.k];
    const x = fromArray(randomArray(sizeOf(xShape), c.seed), xShape, { backend, dtype, requiresGrad: true });
    const w = fromArray(randomArray(sizeOf(wShape), c.seed + 1), wShape, { backend, dtype, requiresGrad: true });
    const b = fromArray(randomArray(wShape[0], c.seed + 2), [wShape[0]], { backend, dtype, requiresGrad: true });
    const o = { groups: c.groups, stride: c.stride, padding: c.padding, dilation: c.dilation };
    const y = conv(x, w, c.bias ? b : null, o);
    const r = fromArray(randomArray(y.numel(), c.seed + 3), y.shape, { backend, dtype });
    backward(y, r);
    const outs = [y, x.grad!, w.grad!, ...(c.bias ? [b.grad!] : [])];
    const values = await Promise.all(outs.map(async (t) => Float64Array.from(await t.toArray())));
    dispose([outs, x, w, b, r]);
    return values;
  }

  it('the same values and gradients: bit for bit in float64 on the cpu, within float32 rounding on WebGPU', async () => {
    const gpu = await webgpu();
    const grouped = (x: Tensor, w: Tensor, b: Tensor | null, o: Conv3dOptions & { groups: number }): Tensor => conv3d(x, w, b, o);
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const label = JSON.stringify(c);
      const want = await run(cpu, c, perGroup);
      // the grouped oracle sums the same products in the same order as the ungrouped one
      expect(await run(cpu, c, grouped), label).toEqual(want);
      const got = await run(gpu, c, grouped);
      got.forEach((v, i) => expectClose(v, want[i], 1e-4, 1e-4, `${['y', 'x gradient', 'w gradient', 'b gradient'][i]} ${label}`));
    }), propertyOptions(8));
  }, 300_000);
});

type CaseOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

describe('F.conv3d with groups: dispatches on WebGPU', () => {
  it('a depthwise conv of 16 channels: one dispatch forward, one per gradient backward', async () => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const x = fromArray(randomArray(16 * 64, 1), [1, 16, 4, 4, 4], { backend: gpu, requiresGrad: true });
    const w = fromArray(randomArray(16 * 27, 2), [16, 1, 3, 3, 3], { backend: gpu, requiresGrad: true });
    const gy = fromArray(randomArray(16 * 64, 3), [1, 16, 4, 4, 4], { backend: gpu });
    const count = (f: () => void): number => { const first = gpu.rt.dispatchCount; f(); return gpu.rt.dispatchCount - first; };
    let y: Tensor | null = null;
    expect(count(() => { y = conv3d(x, w, null, { groups: 16, padding: 1 }); })).toBe(1);
    expect(count(() => backward(y!, gy))).toBe(2);
    // the split path: a conv3d per group and the copies around them
    expect(count(() => { tidy(() => perGroup(x, w, null, { groups: 16, padding: 1 })).dispose(); })).toBeGreaterThanOrEqual(17);
    dispose([y!, x, w, gy, x.grad!, w.grad!]);
  });

  it('the rule: groups of up to 4 filters through the grouped kernel, wider ones one convolution per group', async () => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const forward = (cg: number, mg: number): number => {
      const x = fromArray(randomArray(4 * cg * 27, 1), [1, 4 * cg, 3, 3, 3], { backend: gpu });
      const w = fromArray(randomArray(4 * mg * cg * 8, 2), [4 * mg, cg, 2, 2, 2], { backend: gpu });
      const first = gpu.rt.dispatchCount;
      tidy(() => conv3d(x, w, null, { groups: 4 })).dispose();
      dispose([x, w]);
      return gpu.rt.dispatchCount - first;
    };
    expect([forward(1, 4), forward(4, 1), forward(2, 2)]).toEqual([1, 1, 1]);
    // a dilated depthwise kernel whose halo would halve the grouped kernels' blocks below 32 invocations within
    // WebGPU's minimum workgroup memory (or not fit at all, at larger dilations): one convolution per group, with the
    // values of the cpu backend
    const xd = randomArray(4 * 16 ** 3, 3), wd = randomArray(4 * 27, 4);
    const dilated = (be: Backend): Tensor => conv3d(fromArray(xd, [1, 4, 16, 16, 16], { backend: be }), fromArray(wd, [4, 1, 3, 3, 3], { backend: be }), null,
      { groups: 4, padding: 6, dilation: 6 });
    const first = gpu.rt.dispatchCount;
    const yg = dilated(gpu);
    expect(gpu.rt.dispatchCount - first).toBeGreaterThan(4);
    expectClose(Float64Array.from(await yg.toArray()), Float64Array.from(await dilated(cpu).toArray()), 1e-5, 1e-5, 'dilated depthwise');
    for (const [cg, mg] of [[1, 5], [2, 3], [5, 1]]) expect(forward(cg, mg), `${cg} → ${mg} per group`).toBeGreaterThan(4);
  });
});
