import { inspect } from 'node:util';
import { expect, it } from 'vitest';
import { fromArray } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

it('console.log(tensor) shows its toString() (shape, dtype, backend name), not its storage and backend internals', () => {
  const x = fromArray([1, 2, 3], [3], { backend: cpu, requiresGrad: true });
  expect(inspect(x)).toBe(x.toString());
  expect(inspect({ x })).toBe(`{ x: ${x.toString()} }`);
  expect(x.toString()).toMatch(/^Tensor\(#\d+ \[3\] float32 on cpu, requiresGrad\)$/);
  x.dispose();
});
