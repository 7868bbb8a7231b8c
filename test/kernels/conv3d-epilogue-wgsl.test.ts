import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Conv3dParams } from '../../src/kernels/backend.js';
import { conv3dCandidates, conv3dTuning } from '../../src/kernels/conv3d/choice.js';
import { biasEpilogue, noEpilogue } from '../../src/kernels/conv3d/plan.js';
import { convGeometry } from '../../src/kernels/geometry.js';
import { normBackward, normalize } from '../../src/kernels/norm/webgpu.js';
import { GpuStorage, type GpuRuntime } from '../../src/kernels/webgpu/runtime.js';

/**
 * The conv3d epilogue (conv3d/plan.ts) left every pipeline without one as it was: the WGSL of the conv3d plans (every
 * candidate of a set of shapes, single-split and split-K, with and without a bias) and of the normalisation passes
 * whose expressions the epilogue shares, hashed, against the hashes of the sources before the epilogue existed
 * (the golden file, made from commit 25f2c44, whose kernels the H200 validated).
 */

const golden = JSON.parse(readFileSync(new URL('./conv3d-epilogue-wgsl.golden.json', import.meta.url), 'utf8')) as Record<string, string>;
const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** a runtime that records the WGSL of the pipelines it is asked for and runs nothing */
function recordingRuntime(sources: string[]): GpuRuntime {
  const limits = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxStorageBufferBindingSize: 2 ** 27 };
  const storage = (n: number) => new GpuStorage({} as GPUBuffer, 'float32', n, 4 * n);
  return {
    limits, software: false, kernel: (_key: string, source: () => string) => { sources.push(source()); return {}; },
    dispatch: () => {}, alloc: storage, free: () => {},
  } as unknown as GpuRuntime;
}

const P = (s: number, p: number, d = 1): Conv3dParams => ({ stride: [s, s, s], padding: [p, p, p], dilation: [d, d, d] });
const cases: [number[], number[], Conv3dParams][] = [
  [[1, 1, 8, 8, 8], [16, 1, 3, 3, 3], P(1, 1)], [[2, 16, 8, 8, 6], [16, 16, 3, 3, 3], P(1, 1)], [[1, 32, 4, 4, 4], [64, 32, 2, 2, 2], P(2, 0)],
  [[1, 5, 7, 6, 5], [3, 5, 3, 2, 1], P(1, 2, 2)], [[1, 64, 4, 4, 2], [256, 64, 3, 3, 3], P(1, 1)], [[1, 3, 9, 9, 9], [4, 3, 3, 3, 3], P(2, 1)],
  [[2, 8, 4, 4, 4], [17, 8, 2, 2, 2], P(2, 0)], [[1, 16, 6, 6, 6], [2, 16, 1, 1, 1], P(1, 0)],
];

describe('the WGSL of the kernels without an epilogue is unchanged', () => {
  it('conv3d: every candidate of the shapes, single-split and split-K, with and without a bias', () => {
    const sources: string[] = [];
    const rt = recordingRuntime(sources);
    const tuning = conv3dTuning(rt);
    const seen: Record<string, string> = {};
    for (const [x, w, p] of cases) {
      for (const op of ['forward', 'backwardInput'] as const) {
        for (const targetWorkgroups of [1, 1e9]) {
          for (const bias of op === 'forward' ? [false, true] : [false]) {
            tuning.configure({ targetWorkgroups });
            const g = convGeometry(x, w, p);
            for (const c of conv3dCandidates(rt, op, x, w, p)) {
              sources.length = 0;
              const plan = tuning.withCandidate(c, () => tuning.plan(op, g, bias ? biasEpilogue : noEpilogue));
              plan.run(rt, {} as GPUBuffer, {} as GPUBuffer, bias ? [{} as GPUBuffer] : [], rt.alloc(1, 'float32') as GpuStorage);
              sources.forEach((s, i) => { seen[`${op} x${x} w${w} ${JSON.stringify(p)} ${JSON.stringify(c)} tw${targetWorkgroups} bias${bias} #${i}`] = hash(s); });
            }
          }
        }
      }
    }
    const expected = Object.fromEntries(Object.entries(golden).filter(([k]) => !k.startsWith('norm ')));
    expect(Object.keys(seen).length).toBe(261);
    expect(seen).toEqual(expected);
  });

  it('the normalisation passes that share their expressions with the epilogue', () => {
    const sources: string[] = [];
    const rt = recordingRuntime(sources);
    const st = (n: number) => rt.alloc(n, 'float32');
    const layout = { outer: 2, channels: 4, inner: 8, perGroup: 1, params: 4 };
    const seen: Record<string, string> = {};
    for (const weight of [false, true]) {
      for (const bias of [false, true]) {
        for (const relu of [false, true]) {
          sources.length = 0;
          const terms = { mean: st(4), variance: st(4), weight: weight ? st(4) : null, bias: bias ? st(4) : null, eps: 1e-5 };
          normalize(rt, st(64), terms, layout, relu);
          normBackward(rt, st(64), st(64), relu ? st(64) : null, terms, bias ? { sum: st(4), dot: st(4) } : null, layout);
          sources.forEach((s, i) => { seen[`norm weight${weight} bias${bias} relu${relu} #${i}`] = hash(s); });
        }
      }
    }
    expect(seen).toEqual(Object.fromEntries(Object.entries(golden).filter(([k]) => k.startsWith('norm '))));
  });
});
