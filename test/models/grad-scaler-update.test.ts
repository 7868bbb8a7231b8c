import { describe, expect, it } from 'vitest';
import { GradScaler, Parameter, SGD } from '../../src/index.js';
import { fromArray, keep } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * torch.amp.GradScaler.update counts the inf checks of every optimizer unscale_() was called on since the last
 * update, stepped or not (step() unscales first when the caller did not): an iteration the caller decides to skip
 * after unscale_ still backs the scale off, and update() after unscale_() alone is allowed.
 */

function withGradient(values: number[]) {
  const p = Parameter.fromHost(values.map(() => 1), [values.length], { backend: cpu });
  p.grad = keep(fromArray(values, [values.length], { backend: cpu }));
  return { p, opt: new SGD([p], { lr: 0.1 }) };
}

describe('GradScaler.update after unscale without step', () => {
  it('an unscaled, unstepped optimizer\'s non-finite gradient backs the scale off', async () => {
    const scaler = new GradScaler({ initScale: 8 });
    const a = withGradient([1, Infinity]), b = withGradient([2, 4]);
    scaler.unscale(a.opt); // the caller then skips a's step (e.g. after reading its gradients)
    (await scaler.step(b.opt));
    scaler.update();
    expect(await scaler.getScale()).toBe(4);
    for (const x of [a, b]) { x.opt.dispose(); x.p.dispose(); }
    scaler.dispose();
  });

  it('update() after unscale() alone is allowed: finite gradients count towards growth', async () => {
    const scaler = new GradScaler({ initScale: 8, growthInterval: 1 });
    const a = withGradient([1, 2]);
    scaler.unscale(a.opt);
    scaler.update();
    expect(await scaler.getScale()).toBe(16);
    expect(() => scaler.update()).toThrow('GradScaler.update: no unscale() or step() was recorded since the last update()');
    a.opt.dispose(); a.p.dispose();
    scaler.dispose();
  });
});
