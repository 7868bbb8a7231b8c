import { describe, expect, it } from 'vitest';
import type { Backend, PseudoLabelParams, SigmoidPart, Storage } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * The edges of DBiSL's fused maps (kernels/dualtask): every argument check names what it got (and what the
 * kernel needs), on both backends; the part count the kernel's four lanes allow; the boundaries of the
 * pseudo-label and the mask (strict comparisons); the sign of a zero gradient (the composed ops': sigmoid's backward
 * keeps −0, an affine's + 0 makes it +0). Expected values are the formulas by hand.
 */

const f64 = (...v: number[]): Storage => cpu.upload(Float64Array.from(v), 'float64');
const f32 = (...v: number[]): Storage => cpu.upload(Float32Array.from(v), 'float32');
/** the numerically stable σ (no overflow of e^−x for x ≪ 0), as the spec's T_r2s asks */
const sigma = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const read = async (b: Backend, s: Storage): Promise<number[]> => Array.from(await b.read(s));

const plain: PseudoLabelParams = { pOffset: 0, qOffset: 0, n: 2, head: null, weighting: null };

describe('scaledSigmoid: its checks name what they got', () => {
  const x = f64(1, 2, 3);
  const part = (over: Partial<SigmoidPart>): SigmoidPart => ({ x, offset: 0, n: 1, a: 1, ...over });

  it('one to four parts (the kernel\'s four lanes): none and five are refused, four give each part\'s σ(a·x)', async () => {
    expect(() => cpu.scaledSigmoid([])).toThrow('scaledSigmoid: 1 to 4 parts, got 0');
    expect(() => cpu.scaledSigmoid(Array.from({ length: 5 }, () => part({})))).toThrow('scaledSigmoid: 1 to 4 parts, got 5');
    const four = cpu.scaledSigmoid([part({ offset: 2, a: -1 }), part({ n: 2, a: 2 }), part({ offset: 1, n: 0 }), part({ offset: 1, n: 2, a: 0.5 })]);
    expect(await read(cpu, four)).toEqual([sigma(-3), sigma(2), sigma(4), sigma(1), sigma(1.5)]);
  });

  it('an offset or count that is not an integer ≥ 0, a scale that is not finite, a short input, mixed dtypes', () => {
    expect(() => cpu.scaledSigmoid([part({ offset: -1 })])).toThrow('scaledSigmoid: offset -1 must be an integer ≥ 0');
    expect(() => cpu.scaledSigmoid([part({ offset: 0.5 })])).toThrow('scaledSigmoid: offset 0.5 must be an integer ≥ 0');
    expect(() => cpu.scaledSigmoid([part({ n: -2 })])).toThrow('scaledSigmoid: n -2 must be an integer ≥ 0');
    expect(() => cpu.scaledSigmoid([part({ a: NaN })])).toThrow('scaledSigmoid: the scale a NaN must be finite');
    expect(() => cpu.scaledSigmoid([part({ a: -Infinity })])).toThrow('scaledSigmoid: the scale a -Infinity must be finite');
    // offset + n: 2 + 2 = 4 > 3 (offset − n would fit)
    expect(() => cpu.scaledSigmoid([part({ offset: 2, n: 2 })])).toThrow('scaledSigmoid: an input holds 3 elements, needs 4');
    expect(() => cpu.scaledSigmoid([part({}), part({ x: f32(1) })])).toThrow('scaledSigmoid: the parts are float64, float32');
  });

  it('a part of no elements is empty, and the output ends where the inputs end', async () => {
    expect((cpu.scaledSigmoid([part({ offset: 3, n: 0 })])).length).toBe(0);
    expect(await read(cpu, cpu.scaledSigmoid([part({ offset: 1, n: 2, a: -2 })]))).toEqual([sigma(-4), sigma(-6)]);
  });
});

describe('scaledSigmoidBackward: its checks and the sign of a zero gradient', () => {
  it('refuses a bad offset or count, a scale that is not finite, a short output or gradient, mixed dtypes', () => {
    const y = f64(0.5, 0.25, 0.75), g = f64(1, 1);
    expect(() => cpu.scaledSigmoidBackward(y, -1, g, 1, 1)).toThrow('scaledSigmoidBackward: offset -1 must be an integer ≥ 0');
    expect(() => cpu.scaledSigmoidBackward(y, 0, g, 1.5, 1)).toThrow('scaledSigmoidBackward: n 1.5 must be an integer ≥ 0');
    expect(() => cpu.scaledSigmoidBackward(y, 0, g, 1, Infinity)).toThrow('scaledSigmoidBackward: the scale a Infinity must be finite');
    // yOffset + n: 2 + 2 = 4 > 3
    expect(() => cpu.scaledSigmoidBackward(y, 2, g, 2, 1)).toThrow('scaledSigmoidBackward: the output holds 3 elements, needs 4');
    expect(() => cpu.scaledSigmoidBackward(y, 0, g, 3, 1)).toThrow('scaledSigmoidBackward: the gradient holds 2 elements, needs 3');
    expect(() => cpu.scaledSigmoidBackward(y, 0, f32(1, 1), 2, 1)).toThrow('scaledSigmoidBackward: the gradient is float32, the output float64');
  });

  it('g·(y·(1 − y)) from yOffset, then ·a + 0 only where a ≠ 1: −0 at y = 1 or 0 stays −0 unscaled and is +0 scaled', async () => {
    const y = f64(9, 1, 0, 0.5), g = f64(-2, -3, 4);
    const unscaled = await read(cpu, cpu.scaledSigmoidBackward(y, 1, g, 3, 1));
    expect(unscaled).toEqual([-0, -0, 1]);
    expect(unscaled.slice(0, 2).map((v) => Object.is(v, -0))).toEqual([true, true]);
    const scaled = await read(cpu, cpu.scaledSigmoidBackward(y, 1, g, 3, 2));
    expect(scaled.map((v) => Object.is(v, 0))).toEqual([true, true, false]);
    expect(scaled[2]).toBe(2);
  });
});

describe('pseudoLabel: its checks name what they got', () => {
  const p = f64(0.5, 0.5, 0.5), q = f64(0.5, 0.5, 0.5);

  it('refuses offsets and counts that are not integers ≥ 0, short operands and mixed dtypes', () => {
    expect(() => cpu.pseudoLabel(p, q, { ...plain, pOffset: -1 })).toThrow('pseudoLabel: pOffset -1 must be an integer ≥ 0');
    expect(() => cpu.pseudoLabel(p, q, { ...plain, qOffset: 0.5 })).toThrow('pseudoLabel: qOffset 0.5 must be an integer ≥ 0');
    expect(() => cpu.pseudoLabel(p, q, { ...plain, n: -1 })).toThrow('pseudoLabel: n -1 must be an integer ≥ 0');
    // offset + n: 2 + 2 = 4 > 3 on either operand alone
    expect(() => cpu.pseudoLabel(p, q, { ...plain, pOffset: 2 })).toThrow('pseudoLabel: p holds 3 elements, needs 4');
    expect(() => cpu.pseudoLabel(p, q, { ...plain, qOffset: 2 })).toThrow('pseudoLabel: q holds 3 elements, needs 4');
    expect(() => cpu.pseudoLabel(p, f32(0.5, 0.5), plain)).toThrow('pseudoLabel: p is float64, q float32');
  });

  it('refuses a head with a bad offset or count, past its storage or of another dtype', () => {
    const head = (offset: number, n: number, storage = f64(1, 0, 1)) => ({ ...plain, head: { storage, offset, n } });
    expect(() => cpu.pseudoLabel(p, q, head(-1, 1))).toThrow('pseudoLabel: the head\'s offset -1 must be an integer ≥ 0');
    expect(() => cpu.pseudoLabel(p, q, head(0, 1.5))).toThrow('pseudoLabel: the head\'s n 1.5 must be an integer ≥ 0');
    // offset + n: 2 + 2 = 4 > 3
    expect(() => cpu.pseudoLabel(p, q, head(2, 2))).toThrow('pseudoLabel: the head holds 3 elements, needs 4');
    expect(() => cpu.pseudoLabel(p, q, head(0, 1, f32(1)))).toThrow('pseudoLabel: the head is float32, p float64');
  });

  it('refuses a weighting whose own constant is not finite (γ for exp, τ for the mask), naming it', () => {
    expect(() => cpu.pseudoLabel(p, q, { ...plain, weighting: { kind: 'exp', gamma: Infinity } }))
      .toThrow('pseudoLabel: the weighting\'s constant must be finite, got {"kind":"exp","gamma":null}');
    expect(() => cpu.pseudoLabel(p, q, { ...plain, weighting: { kind: 'mask', tau: NaN } }))
      .toThrow('pseudoLabel: the weighting\'s constant must be finite, got {"kind":"mask","tau":null}');
  });
});

describe('pseudoLabel: boundaries', () => {
  it('1[a + b > 1] and 1[τ − |a − b| > 0] are strict: a + b = 1 gives 0, |a − b| = τ gives weight 0; exp(−γ·0) = 1', async () => {
    // a + b = [1, 1, 1.25, 0.5], |a − b| = [0, 0.5, 0.25, 0.5]
    const p = f64(0.5, 0.25, 0.75, 0), q = f64(0.5, 0.75, 0.5, 0.5);
    const mask = cpu.pseudoLabel(p, q, { ...plain, n: 4, weighting: { kind: 'mask', tau: 0.5 } });
    expect(await read(cpu, mask.pseudo)).toEqual([0, 0, 1, 0]);
    expect(await read(cpu, mask.weight!)).toEqual([1, 0, 1, 0]);
    const exp = cpu.pseudoLabel(p, q, { ...plain, n: 4, weighting: { kind: 'exp', gamma: 2 } });
    expect(await read(cpu, exp.weight!)).toEqual([1, Math.exp(-1), Math.exp(-0.5), Math.exp(-1)]);
  });

  it('no unlabeled elements: Ỹ is the head\'s copy alone and the weight is empty', async () => {
    const out = cpu.pseudoLabel(f64(), f64(), { ...plain, n: 0, head: { storage: f64(5, 1, 0), offset: 1, n: 2 }, weighting: { kind: 'exp', gamma: 5 } });
    expect(await read(cpu, out.pseudo)).toEqual([1, 0]);
    expect(out.weight!.length).toBe(0);
  });
});

describe('dualtask edges on WebGPU', () => {
  it('four parts of one kernel (every lane: its end, offset and scale) are the oracle\'s σ(a·x) and gradients', async () => {
    const gpu = await webgpu();
    const xs = [[0.5, -1, 2, 0.25], [3, -0.5], [-2, 1, 0.125], [0.75, -0.75, 1.5, -3, 0.5]];
    const layout = [{ offset: 1, n: 3, a: -3 }, { offset: 0, n: 2, a: 1 }, { offset: 2, n: 1, a: 0.5 }, { offset: 1, n: 4, a: 2 }];
    const run = async (b: Backend) => {
      const parts = layout.map((l, k) => ({ ...l, x: b.upload(Float32Array.from(xs[k]), 'float32') }));
      const y = b.scaledSigmoid(parts);
      let at = 0;
      const grads: number[][] = [];
      for (const l of layout) {
        grads.push(await read(b, b.scaledSigmoidBackward(y, at, b.upload(Float32Array.from({ length: l.n }, (_, i) => 1 - i), 'float32'), l.n, l.a)));
        at += l.n;
      }
      return { y: await read(b, y), grads };
    };
    const [want, got] = [await run(cpu), await run(gpu)];
    const byHand = layout.flatMap((l, k) => xs[k].slice(l.offset, l.offset + l.n).map((x) => sigma(l.a * x)));
    expectClose(want.y, byHand, 1e-7, 1e-6, 'oracle against σ(a·x) by hand');
    expectClose(got.y, want.y, 1e-6, 1e-5, 'σ(a·x)');
    got.grads.forEach((g, k) => expectClose(g, want.grads[k], 1e-6, 1e-5, `gradient of part ${k}`));
  });

  it('refuses what the oracle refuses, in the same words', async () => {
    const gpu = await webgpu();
    const x = gpu.upload(Float32Array.of(1, 2, 3), 'float32');
    expect(() => gpu.scaledSigmoid(Array.from({ length: 5 }, () => ({ x, offset: 0, n: 1, a: 1 })))).toThrow('scaledSigmoid: 1 to 4 parts, got 5');
    expect(() => gpu.scaledSigmoidBackward(x, 2, x, 2, 1)).toThrow('scaledSigmoidBackward: the output holds 3 elements, needs 4');
    expect(() => gpu.pseudoLabel(x, x, { ...plain, qOffset: 2 })).toThrow('pseudoLabel: q holds 3 elements, needs 4');
  });

  it('p and q as views of one storage at different offsets (Ŷ and T_r2s(R̂) as the loss passes them), after a head', async () => {
    const gpu = await webgpu();
    // one storage [Ŷ | T_r2s(R̂)] of two rows each, row length 3: the unlabeled rows are Ŷ[3..6) and T_r2s[3..6)
    const both = [0.9, 0.1, 0.6, 0.7, 0.25, 0.05, 0.8, 0.2, 0.3, 0.6, 0.5, 0.2];
    const label = [1, 0, 1];
    // a + b = [1.3, 0.75, 0.25] → Ỹ = [1, 0, 0]; |a − b| = [0.1, 0.25, 0.15]
    const byHand = { pseudo: [...label, 1, 0, 0], exp: [0.1, 0.25, 0.15].map((d) => Math.exp(-4 * d)), mask: [1, 0, 1] };
    for (const b of [cpu, gpu]) {
      const s = b.upload(Float32Array.from(both), 'float32'), head = { storage: b.upload(Float32Array.of(7, ...label), 'float32'), offset: 1, n: 3 };
      const params = { pOffset: 3, qOffset: 9, n: 3, head };
      const exp = b.pseudoLabel(s, s, { ...params, weighting: { kind: 'exp', gamma: 4 } });
      const mask = b.pseudoLabel(s, s, { ...params, weighting: { kind: 'mask', tau: 0.2 } });
      expect(await read(b, exp.pseudo), b.name).toEqual(byHand.pseudo);
      expect(await read(b, mask.pseudo), b.name).toEqual(byHand.pseudo);
      // the differences are float32's: |fround(0.7) − fround(0.6)| is not 0.1
      expectClose(await read(b, exp.weight!), byHand.exp, 1e-6, 1e-6, `${b.name}: exp(−γ·|a − b|)`);
      expect(await read(b, mask.weight!), b.name).toEqual(byHand.mask);
    }
  });

  it('no elements: empty outputs, nothing dispatched', async () => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const x = gpu.upload(Float32Array.of(1, 2), 'float32'), first = gpu.rt.dispatchCount;
    expect(gpu.scaledSigmoid([{ x, offset: 2, n: 0, a: 1 }, { x, offset: 0, n: 0, a: -3 }]).length).toBe(0);
    expect(gpu.scaledSigmoidBackward(x, 1, x, 0, 2).length).toBe(0);
    const out = gpu.pseudoLabel(x, x, { ...plain, n: 0, head: { storage: x, offset: 2, n: 0 }, weighting: { kind: 'exp', gamma: 1 } });
    expect([out.pseudo.length, out.weight!.length]).toEqual([0, 0]);
    expect(gpu.rt.dispatchCount - first).toBe(0);
  });

  it('each scaling pattern has its own kernel: [σ(x), σ(−3x)] then [σ(−3x), σ(x)]; g·y(1 − y) unscaled keeps −0, scaled makes +0', async () => {
    const gpu = await webgpu();
    const xs = [0.5, -2, 1.25];
    const x = gpu.upload(Float32Array.from(xs), 'float32');
    for (const scales of [[1, -3], [-3, 1], [1, -3]]) {
      const y = await read(gpu, gpu.scaledSigmoid(scales.map((a) => ({ x, offset: 0, n: 3, a }))));
      expectClose(y, scales.flatMap((a) => xs.map((v) => sigma(a * v))), 1e-6, 1e-5, `scales ${scales}`);
    }
    // y = [1, 0.5], g = [−2, 4]: g·y(1 − y) = [−0, 1]; ·2 + 0 = [+0, 2]
    const y = gpu.upload(Float32Array.of(1, 0.5), 'float32'), g = gpu.upload(Float32Array.of(-2, 4), 'float32');
    for (const a of [1, 2, 1]) {
      const got = await read(gpu, gpu.scaledSigmoidBackward(y, 0, g, 2, a));
      expect([Object.is(got[0], a === 1 ? -0 : 0), got[1]], `a = ${a}: ${got}`).toEqual([true, a]);
    }
  });

  it('the strict boundaries, and a head with no unlabeled elements', async () => {
    const gpu = await webgpu();
    const up = (...v: number[]) => gpu.upload(Float32Array.from(v), 'float32');
    const mask = gpu.pseudoLabel(up(0.5, 0.25, 0.75, 0), up(0.5, 0.75, 0.5, 0.5), { ...plain, n: 4, weighting: { kind: 'mask', tau: 0.5 } });
    expect(await read(gpu, mask.pseudo)).toEqual([0, 0, 1, 0]);
    expect(await read(gpu, mask.weight!)).toEqual([1, 0, 1, 0]);
    const headOnly = gpu.pseudoLabel(up(), up(), { ...plain, n: 0, head: { storage: up(5, 1, 0), offset: 1, n: 2 }, weighting: null });
    expect(await read(gpu, headOnly.pseudo)).toEqual([1, 0]);
  });
});
