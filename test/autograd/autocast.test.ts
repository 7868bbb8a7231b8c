import { describe, expect, it } from 'vitest';
import {
  autocast, backward, conv3d, convTranspose3d, getAutocastDtype, noGrad, roundGradToFloat16, roundToFloat16, sum, mul,
} from '../../src/autograd/index.js';
import type { Conv3dParams, Storage } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { roundToFloat16 as roundValue } from '../../src/kernels/elementwise/cpu.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * autocast (float16, emulated) and its two rounding ops. The ops' gradient rules are straight-through by design (the
 * value's rounding passes the gradient unchanged; the gradient's rounding is no derivative of an identity), so no
 * numerical gradient check can pass on them: their backward rules are tested here with exact expected values. The
 * convolutions under autocast are checked exactly against the raw kernels on rounded operands.
 */

const round = (a: ArrayLike<number>) => Float32Array.from(a, roundValue);
const onCpu = (data: Float32Array, shape: number[], requiresGrad = false) => fromArray(data, shape, { backend: cpu, requiresGrad });
const read = async (t: Tensor) => Float32Array.from(await t.toArray());
/** values that are mostly not float16 values (so rounding shows) */
const wide = (n: number, seed: number, scale = 3) => randomArray(n, seed, -scale, scale);

describe('autocast scope', () => {
  it('is off by default, nests, can be switched off inside, and restores on return and on throw', () => {
    expect(getAutocastDtype()).toBe(null);
    autocast(() => {
      expect(getAutocastDtype()).toBe('float16');
      autocast(() => expect(getAutocastDtype()).toBe(null), { dtype: 'float16', enabled: false });
      autocast(() => expect(getAutocastDtype()).toBe('float16'), { dtype: 'float16' });
      expect(getAutocastDtype()).toBe('float16');
      expect(() => autocast(() => { throw new Error('inside'); }, { dtype: 'float16', enabled: false })).toThrow('inside');
      expect(getAutocastDtype()).toBe('float16');
    }, { dtype: 'float16' });
    expect(getAutocastDtype()).toBe(null);
    expect(() => autocast(() => { throw new Error('boom'); }, { dtype: 'float16' })).toThrow('boom');
    expect(getAutocastDtype()).toBe(null);
  });

  it('refuses an asynchronous fn and an unknown dtype', () => {
    expect(() => autocast(async () => 1, { dtype: 'float16' })).toThrow('synchronous');
    expect(getAutocastDtype()).toBe(null);
    expect(() => autocast(() => 1, { dtype: 'bfloat16' as 'float16' })).toThrow("dtype 'bfloat16' is not supported");
  });
});

describe('the rounding ops', () => {
  it('roundToFloat16: forward rounds (overflow to Inf), backward passes the gradient unchanged', async () => {
    const data = Float32Array.from([1 / 3, -2.0001, 1e5, 6e-8, 0.1]);
    const x = onCpu(data, [5], true);
    const y = roundToFloat16(x);
    expect([...await read(y)]).toEqual([...round(data)]);
    expect((await read(y))[2]).toBe(Infinity);
    const g = Float32Array.from([0.1, 1 / 3, 1e6, -7e-9, 3]);
    backward(y, onCpu(g, [5]));
    expect([...await read(x.grad!)]).toEqual([...g]);
  });

  it('roundGradToFloat16: forward is x itself (a view), backward rounds the gradient (overflow to Inf, underflow to 0)', async () => {
    const data = wide(6, 4);
    const x = onCpu(data, [2, 3], true);
    const y = roundGradToFloat16(x);
    expect(y.storage).toBe(x.storage);
    expect([...await read(y)]).toEqual([...data]);
    const g = Float32Array.from([0.1, 1 / 3, 1e6, -7e-9, 65519, -65520]);
    backward(y, onCpu(g, [2, 3]));
    const got = await read(x.grad!);
    expect([...got]).toEqual([...round(g)]);
    expect([got[2], got[3], got[4], got[5]]).toEqual([Infinity, -0, 65504, -Infinity]);
  });
});

/** conv3d's raw kernels on the cpu, for the expected values */
function raw(p: Conv3dParams) {
  const up = (a: Float32Array) => cpu.upload(a, 'float32');
  const back = async (s: Storage) => Float32Array.from(await cpu.read(s));
  return {
    conv: (x: Float32Array, xs: number[], w: Float32Array, ws: number[]) => back(cpu.conv3d(up(x), xs, up(w), ws, null, p)),
    dx: (gy: Float32Array, gys: number[], w: Float32Array, ws: number[], xs: number[]) => back(cpu.conv3dBackwardInput(up(gy), gys, up(w), ws, xs, p)),
    dw: (x: Float32Array, xs: number[], gy: Float32Array, gys: number[], ws: number[]) => back(cpu.conv3dBackwardWeight(up(x), xs, up(gy), gys, ws, p)),
  };
}

/** Σ over axes 0, 2, 3, 4 of a [N, C, …] array, in float64 then rounded: compared within float32 rounding */
function channelSums(a: Float32Array, n: number, c: number): number[] {
  const per = a.length / (n * c), out = new Array<number>(c).fill(0);
  for (let i = 0; i < a.length; i++) out[Math.floor(i / per) % c] += a[i]!;
  return out;
}

describe('F.conv3d and F.convTranspose3d under autocast', () => {
  const p: Conv3dParams = { stride: [1, 2, 1], padding: [1, 0, 1], dilation: [1, 1, 1] };
  const xShape = [2, 3, 4, 5, 3], wShape = [4, 3, 3, 2, 3];

  it('outside autocast: the conv3d node on the operands themselves, the raw kernel\'s floats', async () => {
    const xd = wide(2 * 3 * 4 * 5 * 3, 1), wd = wide(4 * 3 * 3 * 2 * 3, 2, 0.5), bd = wide(4, 3);
    const x = onCpu(xd, xShape, true), w = onCpu(wd, wShape, true), b = onCpu(bd, [4], true);
    const y = conv3d(x, w, b, { stride: p.stride, padding: p.padding });
    expect(y.gradNode?.name).toBe('conv3d');
    expect(y.gradNode?.inputs).toEqual([x, w, b]);
    const want = Float32Array.from(await cpu.read(cpu.conv3d(cpu.upload(xd, 'float32'), xShape, cpu.upload(wd, 'float32'), wShape, cpu.upload(bd, 'float32'), p)));
    expect([...await read(y)]).toEqual([...want]);
    const t = convTranspose3d(y, w, null, { stride: p.stride, padding: p.padding });
    expect(t.gradNode?.name).toBe('conv3dBackwardInput');
    expect(t.gradNode?.inputs).toEqual([y, w]);
  });

  it('conv3d inside: rounded x and weight forward, bias in float32; rounded output gradient into dx and dw, not into the bias', async () => {
    const xd = wide(2 * 3 * 4 * 5 * 3, 11), wd = wide(4 * 3 * 3 * 2 * 3, 12, 0.5), bd = wide(4, 13);
    const x = onCpu(xd, xShape, true), w = onCpu(wd, wShape, true), b = onCpu(bd, [4], true);
    const y = autocast(() => conv3d(x, w, b, { stride: p.stride, padding: p.padding }), { dtype: 'float16' });
    const r = raw(p);
    const yShape = y.shape as number[];
    const plain = await r.conv(round(xd), xShape, round(wd), wShape);
    const per = plain.length / (yShape[0]! * 4);
    expect([...await read(y)]).toEqual([...Float32Array.from(plain, (v, i) => v + bd[Math.floor(i / per) % 4]!)]);
    const gd = wide(plain.length, 14, 10);
    backward(y, onCpu(gd, yShape));
    expect([...await read(x.grad!)]).toEqual([...await r.dx(round(gd), yShape, round(wd), wShape, xShape)]);
    expect([...await read(w.grad!)]).toEqual([...await r.dw(round(xd), xShape, round(gd), yShape, wShape)]);
    const gb = await read(b.grad!), sums = channelSums(gd, yShape[0]!, 4), sumsRounded = channelSums(round(gd), yShape[0]!, 4);
    for (let c = 0; c < 4; c++) {
      expect(Math.abs(gb[c]! - sums[c]!)).toBeLessThan(1e-5 * Math.abs(sums[c]!) + 1e-5);
      // the rounded gradient's sums differ by far more than float32 rounding: the bias saw the unrounded one
      expect(Math.abs(sumsRounded[c]! - sums[c]!)).toBeGreaterThan(1e-3);
    }
  });

  it('convTranspose3d inside: the same roles (x, weight and the output gradient rounded, bias not)', async () => {
    const tShape = [2, 4, 3, 2, 3], twShape = [4, 3, 3, 2, 3];
    const q: Conv3dParams = { stride: [2, 1, 2], padding: [1, 0, 0], dilation: [1, 1, 1] };
    const xd = wide(2 * 4 * 3 * 2 * 3, 21), wd = wide(4 * 3 * 3 * 2 * 3, 22, 0.5), bd = wide(3, 23);
    const x = onCpu(xd, tShape, true), w = onCpu(wd, twShape, true), b = onCpu(bd, [3], true);
    const y = autocast(() => convTranspose3d(x, w, b, { stride: q.stride, padding: q.padding }), { dtype: 'float16' });
    const yShape = y.shape as number[];
    const r = raw(q);
    const plain = await r.dx(round(xd), tShape, round(wd), twShape, yShape);
    const per = plain.length / (yShape[0]! * 3);
    expect([...await read(y)]).toEqual([...Float32Array.from(plain, (v, i) => v + bd[Math.floor(i / per) % 3]!)]);
    const gd = wide(plain.length, 24, 10);
    backward(y, onCpu(gd, yShape));
    // convTranspose3d's input gradient is conv3d(gy; w), its weight gradient conv3dBackwardWeight(gy, x)
    expect([...await read(x.grad!)]).toEqual([...await r.conv(round(gd), yShape, round(wd), twShape)]);
    expect([...await read(w.grad!)]).toEqual([...await r.dw(round(gd), yShape, round(xd), tShape, twShape)]);
    const gb = await read(b.grad!), sums = channelSums(gd, yShape[0]!, 3);
    for (let c = 0; c < 3; c++) expect(Math.abs(gb[c]! - sums[c]!)).toBeLessThan(1e-5 * Math.abs(sums[c]!) + 1e-5);
  });

  it('grouped conv3d inside: rounded operands on both paths (the grouped kernels and one convolution per group)', async () => {
    for (const [wShapeG, groups] of [[[4, 1, 3, 2, 3], 4], [[6, 2, 3, 2, 3], 2]] as [number[], number][]) {
      const xs = [2, 4, 4, 5, 3];
      const xd = wide(2 * 4 * 4 * 5 * 3, 51), wd = wide(wShapeG.reduce((a, b) => a * b, 1), 52, 0.5);
      const x = onCpu(xd, xs, true), w = onCpu(wd, [...wShapeG], true);
      const y = autocast(() => conv3d(x, w, null, { stride: p.stride, padding: p.padding, groups }), { dtype: 'float16' });
      const want = conv3d(onCpu(round(xd), xs), onCpu(round(wd), [...wShapeG]), null, { stride: p.stride, padding: p.padding, groups });
      expect([...await read(y)], `groups ${groups}`).toEqual([...await read(want)]);
      const gd = wide(y.numel(), 53, 10);
      backward(y, onCpu(gd, y.shape as number[]));
      const xr = onCpu(round(xd), xs, true);
      backward(conv3d(xr, onCpu(round(wd), [...wShapeG]), null, { stride: p.stride, padding: p.padding, groups }), onCpu(round(gd), y.shape as number[]));
      expect([...await read(x.grad!)], `groups ${groups}: dx from the rounded gradient`).toEqual([...await read(xr.grad!)]);
    }
  });

  it('an output gradient beyond 65504 overflows to Inf in the input and weight gradients, not in the bias\'s', async () => {
    const x = onCpu(wide(2 * 3 * 4 * 5 * 3, 31), xShape, true), w = onCpu(wide(4 * 3 * 3 * 2 * 3, 32, 0.5), wShape, true);
    const b = onCpu(wide(4, 33), [4], true);
    const y = autocast(() => conv3d(x, w, b, { stride: p.stride, padding: p.padding }), { dtype: 'float16' });
    backward(sum(mul(y, onCpu(new Float32Array(y.numel()).fill(1e5), y.shape as number[]))));
    const finite = (a: Float32Array) => a.every(Number.isFinite);
    expect(finite(await read(x.grad!))).toBe(false);
    expect(finite(await read(w.grad!))).toBe(false);
    expect(finite(await read(b.grad!))).toBe(true);
  });

  it('on WebGPU: the same graph, and outside autocast the same single conv dispatch forward', async () => {
    const backend = await webgpu() as WebGPUBackend;
    const x = fromArray(wide(2 * 3 * 4 * 5 * 3, 41), xShape, { backend }), w = fromArray(wide(4 * 3 * 3 * 2 * 3, 42, 0.5), wShape, { backend });
    const count = (fn: () => Tensor) => { const before = backend.rt.dispatchCount; const t = noGrad(fn); const n = backend.rt.dispatchCount - before; t.dispose(); return n; };
    const plain = count(() => conv3d(x, w, null, { stride: p.stride, padding: p.padding }));
    const before = backend.rt.dispatchCount;
    backend.free(backend.conv3d(x.storage, xShape, w.storage, wShape, null, p));
    expect(plain).toBe(backend.rt.dispatchCount - before);
    const mixed = count(() => autocast(() => conv3d(x, w, null, { stride: p.stride, padding: p.padding }), { dtype: 'float16' }));
    // autocast adds exactly the two rounding passes (x and the weight)
    expect(mixed - plain).toBe(2);
    const y = autocast(() => conv3d(x, w, null, { stride: p.stride, padding: p.padding }), { dtype: 'float16' });
    const want = await raw(p).conv(round(await read(x)), xShape, round(await read(w)), wShape);
    const got = await read(y);
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 + 1e-5 * Math.abs(want[i]!));
    x.dispose(); w.dispose(); y.dispose();
  });
});
