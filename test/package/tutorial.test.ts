import { readFileSync, rmSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';

const example = readFileSync(new URL('./tutorial.example.ts', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
afterAll(() => rmSync('tiny-unet.safetensors', { force: true }));

it("the README's tutorial (your own 3-D model on the public API) is this code, and it learns", async () => {
  expect(readme.includes(example.trim())).toBe(true);
  const { losses, prediction, label } = await import('./tutorial.example.js');
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
  const p = await prediction.toArray();
  let inter = 0, sp = 0, sy = 0;
  for (let i = 0; i < p.length; i++) {
    const b = p[i]! > 0.5 ? 1 : 0;
    inter += b * label[i]!;
    sp += b;
    sy += label[i]!;
  }
  expect(2 * inter / (sp + sy)).toBeGreaterThan(0.8);
  prediction.dispose();
}, 300_000);
