import { describe, expect, it } from 'vitest';
import { assign, backward, conv3d, gradcheck, mul, noGrad, pad, sum, type PadMode } from '../../src/autograd/index.js';
import { Conv3d, Parameter, type Conv3dPaddingMode } from '../../src/models/index.js';
import { dispose, fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

/**
 * Conv3d's paddingMode (PyTorch's padding_mode): 'reflect', 'replicate' and 'circular' pad the input with F.pad in
 * that mode ([w, w, h, h, d, d]; with padding 'same', ⌊total/2⌋ before and the rest after) and convolve it
 * unpadded, as nn.modules.conv._ConvNd does. References: pad() + conv3d() by hand, and hand values.
 */

type Mode = Exclude<PadMode, 'constant'>;
const modes: Mode[] = ['reflect', 'replicate', 'circular'];
const hostCopy = async (p: Tensor) => Parameter.fromHost(await p.toArray(), p.shape, { backend: cpu });

describe('Conv3d paddingMode', () => {
  it('by hand: [1, 2, 3] * [1, 1, 1] with one pad on each side of the last axis', async () => {
    const want: Record<Conv3dPaddingMode, number[]> = {
      zeros: [3, 6, 5], // 0 1 2 3 0
      reflect: [5, 6, 7], // 2 1 2 3 2
      replicate: [4, 6, 8], // 1 1 2 3 3
      circular: [6, 6, 6], // 3 1 2 3 1
    };
    for (const [mode, values] of Object.entries(want) as [Conv3dPaddingMode, number[]][]) {
      const conv = new Conv3d(1, 1, [1, 1, 3], { padding: [0, 0, 1], paddingMode: mode, bias: false, backend: cpu });
      const y = tidy(() => {
        noGrad(() => assign(conv.weight, fromArray([1, 1, 1], [1, 1, 1, 1, 3], { backend: cpu })));
        return noGrad(() => conv.forward(fromArray([1, 2, 3], [1, 1, 1, 1, 3], { backend: cpu })));
      });
      expect(Array.from(await y.toArray()), mode).toEqual(values);
      y.dispose();
      conv.dispose();
    }
  });

  const cases: { padding: [number, number, number] | 'same'; kernel: [number, number, number]; dilation: [number, number, number]; stride: number; pads: number[] }[] = [
    { padding: [1, 2, 1], kernel: [3, 3, 2], dilation: [1, 1, 2], stride: 2, pads: [1, 1, 2, 2, 1, 1] },
    // 'same': totals 2·(2 − 1) = 2, 1·(4 − 1) = 3, 3·(2 − 1) = 3 → [w 1, 2, h 1, 2, d 1, 1]
    { padding: 'same', kernel: [2, 4, 2], dilation: [2, 1, 3], stride: 1, pads: [1, 2, 1, 2, 1, 1] },
  ];
  for (const mode of modes) {
    for (const c of cases) {
      it(`${mode}, padding ${JSON.stringify(c.padding)}: equals conv3d of pad(x, [${c.pads.join(', ')}], '${mode}'), forward and gradients`, async () => {
        const liveBefore = memory(cpu).liveTensors;
        const shape = [2, 3, 4, 5, 4];
        const conv = new Conv3d(3, 2, c.kernel, { padding: c.padding, dilation: c.dilation, stride: c.stride, paddingMode: mode, seed: 4, backend: cpu });
        const [w, b] = [await hostCopy(conv.weight), await hostCopy(conv.bias!)];
        const xData = randomArray(2 * 3 * 4 * 5 * 4, 12, -1, 1);
        const x = fromArray(xData, shape, { backend: cpu, requiresGrad: true });
        const xr = fromArray(xData, shape, { backend: cpu, requiresGrad: true });
        const [y, yRef] = tidy(() => [conv.forward(x), conv3d(pad(xr, c.pads, { mode }), w, b, { dilation: c.dilation, stride: c.stride })]);
        expect(y.shape).toEqual(yRef.shape);
        expect(Array.from(await y.toArray())).toEqual(Array.from(await yRef.toArray()));
        const projection = fromArray(randomArray(y.numel(), 3, -1, 1), y.shape, { backend: cpu });
        tidy(() => { backward(sum(mul(y, projection))); backward(sum(mul(yRef, projection))); });
        expect(Array.from(await x.grad!.toArray())).toEqual(Array.from(await xr.grad!.toArray()));
        expect(Array.from(await conv.weight.grad!.toArray())).toEqual(Array.from(await w.grad!.toArray()));
        expect(Array.from(await conv.bias!.grad!.toArray())).toEqual(Array.from(await b.grad!.toArray()));
        dispose([x, xr, w, b, y, yRef, projection]);
        conv.dispose();
        expect(memory(cpu).liveTensors).toBe(liveBefore);
      });
    }

    it(`${mode}: the gradient with respect to the input passes a float64 gradient check`, async () => {
      const conv = new Conv3d(2, 2, [2, 3, 2], { padding: 'same', dilation: [1, 1, 2], paddingMode: mode, seed: 9, backend: cpu });
      for (const name of ['weight', 'bias'] as const) {
        const p = conv[name]!;
        (conv as unknown as Record<string, Parameter>)[name] = Parameter.fromHost(await p.toArray(), p.shape, { backend: cpu, dtype: 'float64' });
        p.dispose();
      }
      const r = await gradcheck((x: Tensor) => conv.forward(x), [{ data: randomArray(2 * 3 * 4 * 3, 4, -1, 1), shape: [1, 2, 3, 4, 3] }], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
      conv.dispose();
    });
  }

  it('keeps the state dict, prints padding_mode as PyTorch, and refuses what PyTorch refuses', () => {
    const conv = new Conv3d(2, 4, 3, { padding: 2, paddingMode: 'reflect', backend: cpu });
    expect([...conv.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(conv.extraRepr()).toBe('2, 4, kernel_size=3, stride=1, padding=2, padding_mode=reflect');
    // reflect needs each pad smaller than its axis (F.pad's rule): 2 on an axis of 2
    const x = fromArray(randomArray(2 * 16, 1), [1, 2, 2, 2, 4], { backend: cpu });
    expect(() => tidy(() => conv.forward(x))).toThrow(/^pad: mode 'reflect' needs padding less than the size of axis 3, got \[2, 2\] for \[1, 2, 2, 2, 4\]$/);
    expect(() => new Conv3d(1, 1, 3, { paddingMode: 'mirror' as Conv3dPaddingMode, backend: cpu })).toThrow(/^Conv3d: paddingMode must be one of zeros, reflect, replicate, circular, got 'mirror'$/);
    expect(() => new Conv3d(1, 1, 3, { padding: 'same', stride: 2, paddingMode: 'circular', backend: cpu })).toThrow(/needs stride 1/);
    dispose([x]);
    conv.dispose();
  });
});
