import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conv3dCandidates, conv3dTuning, WebGPUBackend, type Conv3dOp, type Conv3dParams, type Conv3dProblem } from '../../src/kernels/index.js';
import { Conv3dTuning } from '../../src/kernels/conv3d/choice.js';
import { biasEpilogue, noEpilogue, type Epilogue } from '../../src/kernels/conv3d/plan.js';
import { convGeometry } from '../../src/kernels/geometry.js';
import { Params } from '../../src/kernels/webgpu/runtime.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** What the host-side caches of a dispatch must not change: parameter bytes, and the conv3d plan per call. */

/** The parameter layout with a DataView (the runtime's former packing): little-endian words, vec4 arrays 16-aligned. */
function reference(items: readonly ({ kind: 'u32' | 'i32' | 'f32'; value: number } | { kind: 'vec4s'; values: number[]; n: number })[]): Uint8Array {
  // 12 items of up to 32 bytes each, with alignment: more than a uniform slot's 256 bytes (Params does not limit them)
  const view = new DataView(new ArrayBuffer(512));
  let at = 0;
  for (const item of items) {
    if (item.kind === 'vec4s') {
      at = Math.ceil(at / 16) * 16;
      for (let i = 0; i < 4 * item.n; i++) { view.setInt32(at, item.values[i] ?? 0, true); at += 4; }
    } else {
      if (item.kind === 'u32') view.setUint32(at, item.value >>> 0, true);
      else if (item.kind === 'i32') view.setInt32(at, item.value, true);
      else view.setFloat32(at, item.value, true);
      at += 4;
    }
  }
  return new Uint8Array(view.buffer.slice(0, Math.max(16, Math.ceil(at / 16) * 16)));
}

describe('Params', () => {
  it('packs the same bytes as little-endian DataView writes (u32 wraps, i32 two\'s complement, f32 rounds)', () => {
    const scalar = fc.oneof(
      fc.record({ kind: fc.constantFrom('u32' as const, 'i32' as const), value: fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }) }),
      fc.record({ kind: fc.constant('f32' as const), value: fc.oneof(fc.double(), fc.constantFrom(NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38)) }),
    );
    const vec = fc.integer({ min: 1, max: 2 }).chain((n) => fc.record({
      kind: fc.constant('vec4s' as const), n: fc.constant(n), values: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 4 * n }),
    }));
    fc.assert(fc.property(fc.array(fc.oneof(scalar, vec), { maxLength: 12 }), (items) => {
      const p = new Params();
      for (const item of items) {
        if (item.kind === 'vec4s') p.vec4s(item.values, item.n);
        else p[item.kind](item.value);
      }
      expect(new Uint8Array(p.done())).toEqual(reference(items));
    }));
  });

  it('hands out one read-only buffer per distinct block, and done() leaves the builder as it was', () => {
    const a = new Params().u32(7).f32(0.5), b = new Params().u32(7).f32(0.5);
    expect(a.done()).toBe(b.done());
    expect(a.done()).not.toBe(new Params().u32(7).f32(0.25).done());
    // u32(7), f32(0.5) and the padding zeros are not the block u32(7), f32(0.5), u32(0): same bytes, one buffer
    expect(new Params().u32(7).f32(0.5).u32(0).done()).toBe(a.done());
    // done() pads a copy: words added afterwards follow the earlier ones directly
    const grown = new Uint32Array(a.u32(9).done());
    expect(Array.from(grown)).toEqual([7, 0x3f000000, 9, 0]);
  });
});

const P3: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
const problem: Conv3dProblem = { op: 'forward', xShape: [1, 4, 4, 4, 4], wShape: [16, 4, 3, 3, 3], params: P3, bias: false };

describe('conv3d: the plan cached per problem follows the choice table and the tuning knobs', () => {
  it('a later call with the same shapes runs what the table or the knobs now choose, each equal to the oracle', async () => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const x = randomArray(4 * 64, 1), w = randomArray(16 * 4 * 27, 2);
    const expected = await cpu.read(cpu.conv3d(cpu.upload(x, 'float32'), problem.xShape, cpu.upload(w, 'float32'), problem.wShape, null, P3));
    const xs = gpu.upload(x, 'float32'), ws = gpu.upload(w, 'float32');
    const kernels: string[] = [];
    const dispatch = gpu.rt.dispatch.bind(gpu.rt);
    gpu.rt.dispatch = (kernel, ...rest) => { kernels.push(String(kernel.pipeline.label).split(':').slice(0, 2).join(':')); dispatch(kernel, ...rest); };
    const tuning = conv3dTuning(gpu.rt), saved = tuning.knobs;
    const run = async (): Promise<string[]> => {
      kernels.length = 0;
      const out = gpu.conv3d(xs, problem.xShape, ws, problem.wShape, null, P3);
      expectClose(await gpu.read(out), expected, 1e-4);
      gpu.free(out);
      return [...new Set(kernels)];
    };
    try {
      tuning.configure({ softwareAdapterGemms: false });
      expect(await run()).toContain('conv3d:direct'); // llvmpipe's default
      expect(await run()).toContain('conv3d:direct'); // cached
      tuning.configure({ softwareAdapterGemms: true }); // the same shapes, now the implicit GEMM's
      expect(await run()).toContain('conv3d:gemm');
      tuning.configure({ softwareAdapterGemms: false });
      const gemm = conv3dCandidates(gpu.rt, 'forward', problem.xShape, problem.wShape, P3).find((c) => c.kernel === 'gemm');
      if (!gemm) throw new Error('expected an implicit GEMM candidate');
      tuning.setChoice(problem, gemm);
      expect(await run()).toContain('conv3d:gemm');
      tuning.clearChoices();
      expect(await run()).toContain('conv3d:direct');
    } finally {
      gpu.rt.dispatch = dispatch;
      tuning.configure(saved);
      tuning.clearChoices();
      gpu.free(xs);
      gpu.free(ws);
    }
  });
});

describe('conv3d: the plan cache is keyed by the whole problem', () => {
  it('serves a cached plan only to the same op, shapes, parameters and epilogue', () => {
    // nominal limits: planning needs no device
    const limits = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxStorageBufferBindingSize: 2 ** 27 };
    const tuning = new Conv3dTuning({ limits, software: true });
    interface Variant { op: Conv3dOp; x: number[]; w: number[]; p: Conv3dParams; e: Epilogue }
    const base: Variant = { op: 'forward', x: [2, 4, 8, 8, 8], w: [8, 4, 3, 3, 3], p: P3, e: noEpilogue };
    const norm = (weight: boolean, bias: boolean, relu: boolean, epsBits = 0x3727c5ac): Epilogue => ({ bias: true, norm: { weight, bias, epsBits }, relu });
    const plan = (v: Variant) => tuning.plan(v.op, convGeometry(v.x, v.w, v.p), v.e);
    const fresh = (v: Variant) => new Conv3dTuning({ limits, software: true }).plan(v.op, convGeometry(v.x, v.w, v.p), v.e).describe();
    const first = plan(base);
    expect(plan({ ...base, x: [...base.x], w: [...base.w] })).toBe(first); // equal content, other arrays
    const variants: Variant[] = [
      { ...base, op: 'backwardInput' }, { ...base, op: 'backwardWeight' }, { ...base, e: biasEpilogue },
      { ...base, e: norm(true, true, true) }, { ...base, e: norm(true, true, false) }, { ...base, e: norm(false, true, true) },
      { ...base, e: norm(true, false, true) }, { ...base, e: norm(true, true, true, 0x3089705f) }, { ...base, e: { ...norm(true, true, true), bias: false } },
      { ...base, x: [1, 4, 8, 8, 8] }, { ...base, x: [2, 4, 8, 8, 16] }, { ...base, x: [2, 2, 8, 8, 8], w: [8, 2, 3, 3, 3] },
      { ...base, w: [16, 4, 3, 3, 3] }, { ...base, w: [8, 4, 3, 3, 1] },
      { ...base, p: { ...base.p, stride: [2, 1, 1] } }, { ...base, p: { ...base.p, padding: [1, 0, 1] } },
      { ...base, p: { ...base.p, dilation: [1, 1, 2] } },
    ];
    const plans = new Set([first]);
    for (const v of variants) {
      const p = plan(v);
      expect(plans.has(p)).toBe(false);
      plans.add(p);
      expect(p.describe()).toBe(fresh(v));
      expect(plan(v)).toBe(p);
    }
    expect(plan(base)).toBe(first);
  });
});

describe('conv3d: the geometry cached per op, shapes and parameters', () => {
  it('is not served to other shapes or parameters, and does not skip the storages\' checks', async () => {
    const gpu = await webgpu();
    const x = gpu.upload(randomArray(2 * 2 * 64, 1), 'float32'), w = gpu.upload(randomArray(3 * 2 * 27, 2), 'float32');
    const xShape = [2, 2, 4, 4, 4], wShape = [3, 2, 3, 3, 3];
    const params = (stride: number, padding: number, dilation: number): Conv3dParams =>
      ({ stride: [stride, stride, stride], padding: [padding, padding, padding], dilation: [dilation, dilation, dilation] });
    // [weight shape, parameters, output elements]
    const cases: [number[], Conv3dParams, number][] = [
      [wShape, params(1, 1, 1), 2 * 3 * 64], [wShape, params(1, 0, 1), 2 * 3 * 8], [wShape, params(2, 1, 1), 2 * 3 * 8],
      [wShape, params(1, 1, 2), 2 * 3 * 8], [[3, 2, 1, 1, 1], params(1, 1, 1), 2 * 3 * 216], [wShape, params(1, 1, 1), 2 * 3 * 64],
    ];
    for (const [ws, p, n] of cases) {
      const y = gpu.conv3d(x, xShape, w, ws, null, p);
      expect(y.length).toBe(n);
      const gx = gpu.conv3dBackwardInput(y, [2, 3, ...outSpatial(n)], w, ws, xShape, p);
      expect(gx.length).toBe(2 * 2 * 64);
      const gw = gpu.conv3dBackwardWeight(x, xShape, y, [2, 3, ...outSpatial(n)], ws, p);
      expect(gw.length).toBe(3 * 2 * ws[2] * ws[3] * ws[4]);
      for (const s of [y, gx, gw]) gpu.free(s);
    }
    const short = gpu.upload(randomArray(2 * 2 * 64 - 1, 3), 'float32');
    expect(() => gpu.conv3d(short, xShape, w, wShape, null, params(1, 1, 1))).toThrow(/input storage holds 255 elements/);
    for (const s of [x, w, short]) gpu.free(s);
  });
});

/** the spatial output extent of the cases above (a cube) from their output elements, 2 samples × 3 channels */
function outSpatial(n: number): number[] {
  const side = Math.round(Math.cbrt(n / 6));
  return [side, side, side];
}

describe('the runtime encodes recorded dispatches in order with copies', () => {
  it('a copy between two dispatches sees the first one\'s writes and not the second one\'s', async () => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const rt = gpu.rt;
    const addOne = rt.kernel('test:add-one', () => `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&a)) { a[g.x] += 1.0; } }`, 1);
    const a = rt.alloc(64, 'float32'), b = rt.alloc(64, 'float32');
    rt.write(a, new Float32Array(64));
    rt.dispatch(addOne, [a.buffer], null, [1]);
    rt.dispatch(addOne, [a.buffer], null, [1]);
    rt.copyBuffer(a.buffer, 0, b.buffer, 0, 256);
    rt.dispatch(addOne, [a.buffer], null, [1]);
    expect(Array.from(await rt.read(b))).toEqual(new Array(64).fill(2));
    expect(Array.from(await rt.read(a))).toEqual(new Array(64).fill(3));
    rt.free(a);
    rt.free(b);
  });
});
