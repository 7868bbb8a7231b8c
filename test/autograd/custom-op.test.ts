import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { backward, dispose, fromArray, memory, sum, tidy } from 'voxgrad';
import { silu } from './custom-op.example.js'; // importing it runs its gradcheck

const example = readFileSync(new URL('./custom-op.example.ts', import.meta.url), 'utf8');

it('the README example of a custom differentiable op (record) is this code, and it runs', () => {
  expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8').includes(example.trim())).toBe(true);
});

it('silu: forward x·σ(x), backward σ(x)(1 + x(1 − σ(x))), nothing left behind', async () => {
  const before = memory().liveTensors;
  const x = fromArray([-1, 0, 2], [3], { requiresGrad: true });
  const y = silu(x);
  const loss = tidy(() => sum(y));
  backward(loss);
  const s = (v: number) => 1 / (1 + Math.exp(-v));
  const values = Array.from(await y.toArray()), grads = Array.from(await x.grad!.toArray());
  [-1, 0, 2].forEach((v, i) => {
    expect(values[i]).toBeCloseTo(v * s(v), 6);
    expect(grads[i]).toBeCloseTo(s(v) * (1 + v * (1 - s(v))), 6);
  });
  dispose([x, y, loss]);
  expect(memory().liveTensors).toBe(before);
});
