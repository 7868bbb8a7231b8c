import { afterEach, describe, expect, it, vi } from 'vitest';
import { add, backward, conv3d, relu, sum } from '../../src/autograd/index.js';
import type { Backend, Conv3dCandidate, Conv3dParams, Conv3dProblem, Storage } from '../../src/kernels/index.js';
import {
  candidateName, clearConv3dChoices, conv3dCandidates, conv3dPlan, conv3dProblemKey, conv3dTuning, recordConv3dProblems, tuneConv3d, WebGPUBackend,
} from '../../src/kernels/index.js';
import { convGeometry } from '../../src/kernels/geometry.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** The conv3d tuner (src/kernels/conv3d/tune.ts) and the runtime's choice table it fills (src/kernels/conv3d/choice.ts), on tiny shapes. */

async function gpuBackend(): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return gpu;
}

const P = (s: number, p: number): Conv3dParams => ({ stride: [s, s, s], padding: [p, p, p], dilation: [1, 1, 1] });
const conv3: Pick<Conv3dProblem, 'xShape' | 'wShape' | 'params'> = { xShape: [2, 4, 4, 3, 5], wShape: [8, 4, 3, 3, 3], params: P(1, 1) };
const down: Pick<Conv3dProblem, 'xShape' | 'wShape' | 'params'> = { xShape: [1, 4, 4, 4, 6], wShape: [8, 4, 2, 2, 2], params: P(2, 0) };
const problems: Conv3dProblem[] = [
  { op: 'forward', ...conv3, bias: true },
  { op: 'backwardInput', ...conv3, bias: false },
  { op: 'backwardWeight', ...conv3, bias: false },
  { op: 'forward', ...down, bias: false },
  { op: 'backwardInput', ...down, bias: false },
];

/** The operation on `be` with random data (storages freed before returning). */
async function run(be: Backend, p: Conv3dProblem, seed: number): Promise<Float32Array | Float64Array> {
  const g = convGeometry(p.xShape, p.wShape, p.params);
  const gyShape = [g.n, g.co, ...g.out];
  const owned: Storage[] = [];
  const up = (shape: readonly number[], s: number): Storage => { const st = be.upload(randomArray(sizeOf(shape), s), 'float32'); owned.push(st); return st; };
  const y = p.op === 'forward' ? be.conv3d(up(p.xShape, seed), p.xShape, up(p.wShape, seed + 1), p.wShape, p.bias ? up([g.co], seed + 2) : null, p.params)
    : p.op === 'backwardInput' ? be.conv3dBackwardInput(up(gyShape, seed), gyShape, up(p.wShape, seed + 1), p.wShape, p.xShape, p.params)
      : be.conv3dBackwardWeight(up(p.xShape, seed), p.xShape, up(gyShape, seed + 1), gyShape, p.wShape, p.params);
  owned.push(y);
  const out = await be.read(y);
  for (const s of owned) be.free(s);
  return out as Float32Array | Float64Array;
}

/** Matches the gpu result to the cpu oracle's within the conv3d tests' tolerance. */
async function expectOracle(gpu: Backend, p: Conv3dProblem, seed: number, what: string): Promise<void> {
  const g = convGeometry(p.xShape, p.wShape, p.params);
  const kv = g.k[0] * g.k[1] * g.k[2];
  const reduction = p.op === 'forward' ? g.ci * kv : p.op === 'backwardInput' ? g.co * kv : g.n * g.out[0] * g.out[1] * g.out[2];
  expectClose(await run(gpu, p, seed), await run(cpu, p, seed), 2e-5 * Math.sqrt(reduction) + 1e-6, 1e-4, what);
}

/** The first line a candidate's plan starts with. */
function planPrefix(c: Conv3dCandidate): RegExp {
  switch (c.kernel) {
    case 'gemm': return new RegExp(`^implicit GEMM: ${c.shape.bm}×${c.shape.bn}×\\d+ tiles .*, ${c.shape.tm}×${c.shape.tn} per invocation`);
    case 'direct': return new RegExp(`^direct: \\d+ vox × ${c.tn ?? '\\d+'} ch per invocation`);
    case 'down': return /^down GEMM/;
    case 'up': return /^up GEMM/;
    case 'wgrad': return /^wgrad/;
    case 'wgemm': return new RegExp(`^weight GEMM: ${c.shape.bm}×${c.shape.bn}×${c.shape.bk} tiles .*, ${c.shape.tm}×${c.shape.tn} per invocation`);
  }
}

describe('tuneConv3d', () => {
  afterEach(async () => { clearConv3dChoices(await webgpu()); });

  it('times every candidate, chooses an agreeing one per problem, and conv3d then runs it (equal to the oracle)', async () => {
    const gpu = await gpuBackend();
    const lines: string[] = [];
    const rows = await tuneConv3d(gpu, problems, { reps: 2, report: (l) => lines.push(l) });
    expect(lines.length).toBe(rows.length);
    for (const [i, p] of problems.entries()) {
      const mine = rows.filter((r) => r.problem === p);
      expect(mine.map((r) => r.name)).toEqual(conv3dCandidates(gpu.rt, p.op, p.xShape, p.wShape, p.params).map(candidateName));
      for (const r of mine) {
        expect(r.rejected).toBeNull();
        expect(r.ms).toBeGreaterThan(0);
        if (!gpu.rt.hasTimestamps) expect(r.method).toBe('wall+sync'); // llvmpipe
      }
      const chosen = mine.filter((r) => r.chosen);
      expect(chosen.length).toBe(1);
      expect(chosen[0].ms).toBe(Math.min(...mine.map((r) => r.ms)));
      const plan = conv3dPlan(gpu.rt, p.op, p.xShape, p.wShape, p.params);
      expect(plan).toMatch(planPrefix(chosen[0].candidate));
      expect(plan.endsWith(`\ntuned: ${chosen[0].name}`)).toBe(true);
      await expectOracle(gpu, p, 100 + i, `tuned ${conv3dProblemKey(p)}: ${plan}`);
    }
    // the stride-1 class has the implicit GEMM's shapes and both direct tiles; the kernel = stride class its GEMMs
    const names = (p: Conv3dProblem): string[] => rows.filter((r) => r.problem === p).map((r) => r.name);
    expect(names(problems[0])).toEqual(['direct', 'implicit GEMM 128×16×16 4×4', 'implicit GEMM 256×16×16 8×4', 'implicit GEMM 128×16×32 4×4', 'direct tn 4']);
    expect(names(problems[2])).toEqual(['wgrad', 'weight GEMM 128×16×16 4×4', 'weight GEMM 256×16×16 8×4', 'weight GEMM 128×16×32 4×4']);
    expect(names(problems[3])).toEqual(['down GEMM', 'direct', 'direct tn 4']);
    expect(names(problems[4])).toEqual(['up GEMM', 'direct']);
    clearConv3dChoices(gpu);
    expect(conv3dPlan(gpu.rt, 'forward', conv3.xShape, conv3.wShape, conv3.params)).not.toContain('tuned');
  });

  it('the choice table decides what runs: every candidate of a problem, set as its choice, matches the oracle', async () => {
    const gpu = await gpuBackend();
    for (const [i, p] of problems.entries()) {
      for (const c of conv3dCandidates(gpu.rt, p.op, p.xShape, p.wShape, p.params)) {
        conv3dTuning(gpu.rt).setChoice(p, c);
        const plan = conv3dPlan(gpu.rt, p.op, p.xShape, p.wShape, p.params);
        expect(plan).toMatch(planPrefix(c));
        await expectOracle(gpu, p, 200 + i, `${candidateName(c)} for ${conv3dProblemKey(p)}: ${plan}`);
      }
    }
    // a candidate that cannot compute the problem is refused when set, naming both
    expect(() => conv3dTuning(gpu.rt).setChoice(problems[3], { kernel: 'gemm', shape: { bm: 128, bn: 16, bk: 16, tm: 4, tn: 4 } }))
      .toThrow(/candidate 'implicit GEMM 128×16×16 4×4' cannot compute forward x\[1, 4, 4, 4, 6\] w\[8, 4, 2, 2, 2\] s\[2, 2, 2\]/);
    expect(() => conv3dTuning(gpu.rt).setChoice(problems[2], { kernel: 'direct' })).toThrow(/candidate 'direct' cannot compute backwardWeight/);
    expect(() => conv3dTuning(gpu.rt).setChoice(problems[0], { kernel: 'direct', tn: 6 })).toThrow(/4, 8 or 16 channels per invocation, not 6/);
    // the table is the runtime's own: another one with the same limits plans by the defaults
    const last = problems[4], other = { limits: gpu.rt.limits, software: gpu.rt.software };
    expect(conv3dPlan(gpu.rt, last.op, last.xShape, last.wShape, last.params)).toContain('\ntuned: ');
    expect(conv3dPlan(other, last.op, last.xShape, last.wShape, last.params)).not.toContain('tuned');
  });

  it('rejects and reports a candidate whose result disagrees with the default kernel, and never chooses it', async () => {
    const gpu = await gpuBackend();
    const lines: string[] = [];
    const rows = await tuneConv3d(gpu, [problems[0], problems[1]], {
      reps: 1,
      report: (l) => lines.push(l),
      perturb: (c, result) => { if (c.kernel === 'gemm') result[result.length - 1] += 1e-2; },
    });
    const gemm = rows.filter((r) => r.candidate.kernel === 'gemm');
    expect(gemm.length).toBe(6);
    for (const r of gemm) {
      expect(r.rejected).toMatch(/^result differs from the default's by up to 0\.0100 \(tolerance/);
      expect(r.chosen).toBe(false);
      expect(r.ms).toBeNaN();
      expect(r.maxAbsDiff).toBeCloseTo(1e-2, 4);
    }
    expect(lines.filter((l) => / · implicit GEMM .*: result differs/.test(l)).length).toBe(6);
    for (const p of [problems[0], problems[1]]) {
      expect(conv3dPlan(gpu.rt, p.op, p.xShape, p.wShape, p.params)).toMatch(/^direct/);
    }
  });
});

describe('recordConv3dProblems', () => {
  afterEach(async () => { clearConv3dChoices(await webgpu()); });

  it('captures the forward and both gradients of a small conv net step, and tuning them keeps its gradients', async () => {
    const gpu = await gpuBackend();
    const on = { backend: gpu };
    const x = fromArray(randomArray(2 * 2 * 4 * 4 * 4, 1), [2, 2, 4, 4, 4], on);
    const w1 = fromArray(randomArray(4 * 2 * 27, 2), [4, 2, 3, 3, 3], { ...on, requiresGrad: true });
    const b1 = fromArray(randomArray(4, 3), [4], { ...on, requiresGrad: true });
    const w2 = fromArray(randomArray(8 * 4 * 8, 4), [8, 4, 2, 2, 2], { ...on, requiresGrad: true });
    const step = async (): Promise<Float32Array[]> => {
      const loss = sum(conv3d(relu(conv3d(x, w1, b1, { padding: 1 })), w2, null, { stride: 2 }));
      backward(loss);
      const grads = [];
      for (const t of [w1, b1, w2]) { grads.push(Float32Array.from(await t.grad!.toArray())); t.grad!.dispose(); t.grad = null; }
      loss.dispose();
      return grads;
    };
    let before: Float32Array[] = [], inner: Conv3dProblem[] = [];
    // nested recordings both see every problem
    const recorded = await recordConv3dProblems(gpu, async () => { inner = await recordConv3dProblems(gpu, async () => { before = await step(); }); });
    expect(inner).toEqual(recorded);
    const c1 = { xShape: [2, 2, 4, 4, 4], wShape: [4, 2, 3, 3, 3], params: P(1, 1) };
    const c2 = { xShape: [2, 4, 4, 4, 4], wShape: [8, 4, 2, 2, 2], params: P(2, 0) };
    expect(recorded).toEqual([
      { op: 'forward', ...c1, bias: true },
      { op: 'forward', ...c2, bias: false },
      { op: 'backwardInput', ...c2, bias: false },
      { op: 'backwardWeight', ...c2, bias: false },
      { op: 'backwardWeight', ...c1, bias: false },
    ]);
    // the runtime's observer is unset again
    expect(conv3dTuning(gpu.rt).observer).toBeNull();
    await expect(recordConv3dProblems(cpu, () => undefined)).rejects.toThrow(/^recordConv3dProblems: needs the WebGPU backend/);
    expect(await recordConv3dProblems(gpu, () => undefined)).toEqual([]);
    const rows = await tuneConv3d(gpu, recorded, { reps: 1 });
    expect(rows.filter((r) => r.chosen).length).toBe(recorded.length);
    const after = await step();
    for (const [i, g] of after.entries()) expectClose(g, before[i], 1e-4, 1e-4, `gradient ${i} after tuning`);
    dispose([x, w1, b1, w2]);
  });
});

describe('tuneConv3d inside a step', () => {
  afterEach(async () => {
    clearConv3dChoices(await webgpu());
    vi.restoreAllMocks();
  });

  it('times each candidate by its problem\'s dispatches in the step (every call of it), chooses by those times, and times a problem the step does not run alone', async () => {
    const gpu = await gpuBackend();
    const { rt } = gpu, tuning = conv3dTuning(rt);
    // simulated timestamps (llvmpipe has none): every dispatch takes 1 ms, so a candidate's time in a step is
    // the number of dispatches its problem's calls made
    let profiledFrom = -1;
    vi.spyOn(rt, 'hasTimestamps', 'get').mockReturnValue(true);
    vi.spyOn(rt, 'startProfiling').mockImplementation(() => { profiledFrom = rt.dispatchCount; });
    vi.spyOn(rt, 'stopProfiling').mockImplementation(async () => Array.from({ length: rt.dispatchCount - profiledFrom }, () => ({ label: 'kernel', ms: 1 })));
    const on = { backend: gpu };
    const x1 = fromArray(randomArray(sizeOf(conv3.xShape), 1), conv3.xShape, on), x2 = fromArray(randomArray(sizeOf(conv3.xShape), 2), conv3.xShape, on);
    const w = fromArray(randomArray(sizeOf(conv3.wShape), 3), conv3.wShape, { ...on, requiresGrad: true });
    const b = fromArray(randomArray(8, 4), [8], { ...on, requiresGrad: true });
    let steps = 0;
    // the same convolution twice: its forward and weight gradient each run two times a step
    const step = (): void => {
      steps++;
      tidy(() => { backward(add(sum(conv3d(x1, w, b, { padding: 1 })), sum(conv3d(x2, w, b, { padding: 1 })))); });
    };
    const inStep = await recordConv3dProblems(gpu, step);
    expect(inStep).toEqual([problems[0], problems[2]]);
    steps = 0;
    const alone = problems[3];
    const rows = await tuneConv3d(gpu, [...inStep, alone], { reps: 2, step });
    const candidates = (p: Conv3dProblem): Conv3dCandidate[] => conv3dCandidates(rt, p.op, p.xShape, p.wShape, p.params);
    // one round per candidate of the problem with the most: an untimed step and two timed ones
    expect(steps).toBe(3 * Math.max(...[...inStep, alone].map((p) => candidates(p).length)));
    const gy = gpu.upload(randomArray(2 * 8 * 4 * 3 * 5, 5), 'float32');
    for (const p of inStep) {
      const mine = rows.filter((r) => r.problem === p);
      expect(mine.map((r) => r.name)).toEqual(candidates(p).map(candidateName));
      for (const r of mine) {
        // the dispatches of one call with this candidate, counted apart
        const before = rt.dispatchCount;
        const out = tuning.withCandidate(r.candidate, () => (p.op === 'forward'
          ? gpu.conv3d(x1.storage, p.xShape, w.storage, p.wShape, b.storage, p.params)
          : gpu.conv3dBackwardWeight(x1.storage, p.xShape, gy, [2, 8, 4, 3, 5], p.wShape, p.params)));
        const perCall = rt.dispatchCount - before;
        gpu.free(out);
        expect(r.method).toBe('in-step timestamps');
        expect(r.ms, r.name).toBe(2 * perCall);
      }
      const chosen = mine.filter((r) => r.chosen);
      expect(chosen.length).toBe(1);
      expect(chosen[0]).toBe(mine.reduce((a, r) => (r.ms < a.ms ? r : a)));
      expect(conv3dPlan(rt, p.op, p.xShape, p.wShape, p.params).endsWith(`\ntuned: ${chosen[0].name}`)).toBe(true);
    }
    gpu.free(gy);
    const mine = rows.filter((r) => r.problem === alone);
    expect(mine.length).toBe(candidates(alone).length);
    for (const r of mine) {
      expect(r.method).toBe('timestamps');
      expect(r.ms).toBeGreaterThan(0);
    }
    expect(mine.filter((r) => r.chosen).length).toBe(1);
    dispose([x1, x2, w, b]);
  });

  it('a step that throws leaves no profiling, observer or forced choice behind', async () => {
    const gpu = await gpuBackend();
    const { rt } = gpu, tuning = conv3dTuning(rt);
    let profiling = false;
    vi.spyOn(rt, 'hasTimestamps', 'get').mockReturnValue(true);
    vi.spyOn(rt, 'startProfiling').mockImplementation(() => { profiling = true; });
    vi.spyOn(rt, 'stopProfiling').mockImplementation(async () => { profiling = false; return []; });
    const p = problems[3], kept = conv3dCandidates(rt, p.op, p.xShape, p.wShape, p.params).at(-1)!;
    tuning.setChoice(p, kept);
    let calls = 0;
    const step = (): void => { if (++calls === 2) throw new Error('the step failed'); };
    await expect(tuneConv3d(gpu, [p], { reps: 1, step })).rejects.toThrow('the step failed');
    expect(calls).toBe(2);
    expect(profiling).toBe(false);
    expect(tuning.observer).toBeNull();
    expect(tuning.choiceOf(p)).toEqual(kept);
  });
});
