import { describe, expect, it } from 'vitest';
import { assign, backward, conv3d, gradcheck, mul, noGrad, sum } from '../../src/autograd/index.js';
import { BatchNorm3d, Conv3d, Parameter, ReLU, Sequential, setConvBatchNormFusion } from '../../src/models/index.js';
import { dispose, fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';

/**
 * Conv3d padding 'same' with an odd total padding dilation·(kernel − 1) along an axis. PyTorch
 * (nn.modules.conv._ConvNd, ATen's convolution for padding='same') pads ⌊total/2⌋ before the input and the rest
 * after it; the references below pad the input by hand on the host and run an unpadded ('valid') convolution.
 */

/** x [N, C, D, H, W] with `before[a]` zeros before and `after[a]` zeros after spatial axis a, written on the host */
function padOnHost(x: Float32Array, shape: readonly number[], before: readonly number[], after: readonly number[]): { data: Float32Array; shape: number[] } {
  const [n, c, ...size] = shape;
  const padded = size.map((s, a) => s + before[a] + after[a]);
  const out = new Float32Array(n * c * padded[0] * padded[1] * padded[2]);
  for (let nc = 0; nc < n * c; nc++) {
    for (let d = 0; d < size[0]; d++) {
      for (let h = 0; h < size[1]; h++) {
        for (let w = 0; w < size[2]; w++) {
          const to = ((nc * padded[0] + d + before[0]) * padded[1] + h + before[1]) * padded[2] + w + before[2];
          out[to] = x[((nc * size[0] + d) * size[1] + h) * size[2] + w];
        }
      }
    }
  }
  return { data: out, shape: [n, c, ...padded] };
}

describe("Conv3d padding 'same' with an odd total padding (PyTorch's: the extra zero after the input)", () => {
  it('splits each axis total dilation·(kernel − 1) into ⌊total/2⌋ on both sides and the rest after the end', () => {
    // totals: 2·(2 − 1) = 2 (even), 1·(4 − 1) = 3, 3·(2 − 1) = 3
    const conv = new Conv3d(1, 1, [2, 4, 2], { padding: 'same', dilation: [2, 1, 3], backend: cpu });
    expect(conv.padding).toEqual([1, 1, 1]);
    expect(conv.extraEndPadding).toEqual([0, 1, 1]);
    const even = new Conv3d(1, 1, [3, 5, 1], { padding: 'same', dilation: [2, 1, 1], backend: cpu });
    expect(even.extraEndPadding).toEqual([0, 0, 0]);
    const explicit = new Conv3d(1, 1, 2, { padding: 1, backend: cpu });
    expect(explicit.extraEndPadding).toEqual([0, 0, 0]);
    expect(conv.extraRepr()).toBe('1, 1, kernel_size=(2, 4, 2), stride=1, padding=same, dilation=(2, 1, 3)');
    expect(explicit.extraRepr()).toBe('1, 1, kernel_size=2, stride=1, padding=1');
    for (const m of [conv, even, explicit]) m.dispose();
  });

  it('a kernel of 2 along one axis: [1, 2, 3] * [10, 1] is [12, 23, 30] (the zero goes after the 3, as PyTorch)', async () => {
    const conv = new Conv3d(1, 1, [1, 1, 2], { padding: 'same', bias: false, backend: cpu });
    const y = tidy(() => {
      noGrad(() => assign(conv.weight, fromArray([10, 1], [1, 1, 1, 1, 2], { backend: cpu })));
      return noGrad(() => conv.forward(fromArray([1, 2, 3], [1, 1, 1, 1, 3], { backend: cpu })));
    });
    expect(y.shape).toEqual([1, 1, 1, 1, 3]);
    expect(Array.from(await y.toArray())).toEqual([12, 23, 30]);
    dispose([y]);
    conv.dispose();
  });

  it('equals an unpadded convolution of the input padded by hand (⌊t/2⌋ before, ⌈t/2⌉ after), forward and gradients', async () => {
    const shape = [2, 3, 5, 4, 6];
    const xData = Float32Array.from(randomArray(2 * 3 * 5 * 4 * 6, 11, -1, 1));
    const liveBefore = memory(cpu).liveTensors;
    const conv = new Conv3d(3, 2, [2, 4, 3], { padding: 'same', dilation: [3, 1, 1], seed: 5, backend: cpu });
    // totals 3, 3, 2: before 1, 1, 1 and after 2, 2, 1
    const padded = padOnHost(xData, shape, [1, 1, 1], [2, 2, 1]);
    const x = fromArray(xData, shape, { backend: cpu, requiresGrad: true });
    const xp = fromArray(padded.data, padded.shape, { backend: cpu, requiresGrad: true });
    const w = Parameter.fromHost(await conv.weight.toArray(), conv.weight.shape, { backend: cpu });
    const b = Parameter.fromHost(await conv.bias!.toArray(), conv.bias!.shape, { backend: cpu });
    const [y, yRef] = tidy(() => [conv.forward(x), conv3d(xp, w, b, { dilation: [3, 1, 1] })]);
    expect(y.shape).toEqual(shape.slice(0, 1).concat([2], shape.slice(2)));
    expect(Array.from(await y.toArray())).toEqual(Array.from(await yRef.toArray()));
    const projection = fromArray(randomArray(y.numel(), 3, -1, 1), y.shape, { backend: cpu });
    tidy(() => { backward(sum(mul(y, projection))); backward(sum(mul(yRef, projection))); });
    // the input's gradient is the padded input's gradient without its padding
    const gxp = await xp.grad!.toArray(), gx = Array.from(await x.grad!.toArray());
    const gxpInner = padOnHost(Float32Array.from(gx), shape, [1, 1, 1], [2, 2, 1]).data;
    const paddedInterior = padOnHost(new Float32Array(gx.length).fill(1), shape, [1, 1, 1], [2, 2, 1]).data;
    expect(Array.from(gxpInner)).toEqual(Array.from(gxp, (g, i) => (paddedInterior[i] === 1 ? g : 0)));
    expect(Array.from(await conv.weight.grad!.toArray())).toEqual(Array.from(await w.grad!.toArray()));
    expect(Array.from(await conv.bias!.grad!.toArray())).toEqual(Array.from(await b.grad!.toArray()));
    dispose([x, xp, w, b, y, yRef, projection]);
    conv.dispose();
    expect(memory(cpu).liveTensors).toBe(liveBefore);
  });

  it('the gradient with respect to the input passes a float64 gradient check', async () => {
    const conv = new Conv3d(2, 2, [2, 3, 2], { padding: 'same', dilation: [1, 2, 3], seed: 9, backend: cpu });
    for (const name of ['weight', 'bias'] as const) {
      const p = conv[name]!;
      (conv as unknown as Record<string, Parameter>)[name] = Parameter.fromHost(await p.toArray(), p.shape, { backend: cpu, dtype: 'float64' });
      p.dispose();
    }
    expect(conv.extraEndPadding).toEqual([1, 0, 1]);
    const shape = [1, 2, 3, 4, 3];
    const r = await gradcheck((x: Tensor) => conv.forward(x), [{ data: randomArray(72, 4, -1, 1), shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    conv.dispose();
  });

  it.each(['zeros', 'replicate'] as const)("Sequential's inference fusion with a following BatchNorm3d and ReLU pads the same way (paddingMode %s; the same floats unfused)", async (paddingMode) => {
    const seq = new Sequential(new Conv3d(2, 3, [2, 2, 3], { padding: 'same', paddingMode, seed: 2, backend: cpu }), new BatchNorm3d(3, { backend: cpu }), new ReLU());
    tidy(() => seq.forward(fromArray(randomArray(2 * 2 * 64, 8, -1, 1), [2, 2, 4, 4, 4], { backend: cpu })));
    seq.eval();
    const x = fromArray(randomArray(2 * 2 * 5 * 3 * 4, 6, -1, 1), [2, 2, 5, 3, 4], { backend: cpu });
    const run = (fused: boolean): Tensor => {
      const before = setConvBatchNormFusion(fused);
      try { return noGrad(() => seq.forward(x)); } finally { setConvBatchNormFusion(before); }
    };
    const [a, b] = [run(true), run(false)];
    expect(a.shape).toEqual([2, 3, 5, 3, 4]);
    expectClose(await a.toArray(), await b.toArray(), 1e-6, 1e-5, 'fused vs unfused');
    dispose([x, a, b]);
    seq.dispose();
  });
});
