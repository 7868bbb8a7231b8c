import { describe, expect, it } from 'vitest';
import { GradScaler, Parameter, SGD } from '../../src/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { fromArray, keep } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** GradScaler's contract where mutation testing found it unchecked: in-place unscaling, the flag's shape, errors. */

describe('GradScaler.unscale', () => {
  it('divides a dense, unshared gradient in place (as PyTorch\'s unscale_): the same tensor holds the unscaled values', async () => {
    const scaler = new GradScaler({ initScale: 8 });
    const p = Parameter.fromHost([1, 2], [2], { backend: cpu });
    const g = keep(fromArray([16, -4], [2], { backend: cpu }));
    p.grad = g;
    const opt = new SGD([p], { lr: 0.5 });
    scaler.unscale(opt);
    expect(p.grad).toBe(g);
    expect(Array.from(await g.toArray())).toEqual([2, -0.5]);
    const flag = await scaler.step(opt);
    // torch's found_inf: a float32 tensor of one element, shape [1]
    expect([flag.shape, flag.dtype, Array.from(await flag.toArray())]).toEqual([[1], 'float32', [0]]);
    expect(Array.from(await p.toArray())).toEqual([0, 2.25]);
    flag.dispose(); scaler.update(); opt.dispose(); p.dispose(); scaler.dispose();
  });

  it('refuses parameters on another backend than the scale, naming unscale', () => {
    const scaler = new GradScaler();
    const onCpu = fromArray([1], [], { backend: cpu });
    scaler.scale(onCpu).dispose();
    const other = new CpuBackend();
    const p = Parameter.fromHost([1], [1], { backend: other });
    p.grad = keep(fromArray([1], [1], { backend: other }));
    const opt = new SGD([p], { lr: 0.1 });
    expect(() => scaler.unscale(opt)).toThrow(/^GradScaler\.unscale: the scale is on the cpu backend, the tensors on cpu$/);
    onCpu.dispose(); p.dispose(); scaler.dispose();
  });
});
