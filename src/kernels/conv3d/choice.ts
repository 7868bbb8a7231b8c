import type { Conv3dParams } from '../backend.js';
import { convGeometry, type ConvGeometry } from '../geometry.js';
import { SMI_MASK, mixHash } from '../webgpu/runtime.js';
import { directPlan, modelTn } from './direct.js';
import { downPlan } from './down.js';
import { gemmPlan, gemmShapesFor, type GemmShape } from './gemm.js';
import { biasEpilogue, defaultConv3dKnobs, fmt, noEpilogue, type Conv3dKnobs, type Conv3dPlan, type Epilogue, type HasLimits, type PlanContext } from './plan.js';
import { upPlan } from './up.js';
import { wgemmPlan, wgemmShapesFor } from './wgemm.js';
import { wgradPlan } from './wgrad.js';

/**
 * Which kernel computes a convolution. Several can (every pipeline is specialised per shape and cached under its
 * full configuration); which one runs is, in this order: the candidate forced by Conv3dTuning.withCandidate
 * (benchmarks and the tuner), the runtime's choice table entry for the problem (filled by tuneConv3d in
 * tune.ts, cuDNN's benchmark mode), else the defaults (steered by the runtime's knobs, Conv3dKnobs):
 * - forward, stride 1, writing at least implicitGemmMinChannels channels (16) from at least
 *   implicitGemmMinReadChannels (2), on a GPU (softwareAdapterGemms): the implicit GEMM (gemm.ts).
 * - forward, kernel = stride, no padding, no dilation (the V-Net's 2³/2 "down", and the input gradient of its
 *   transposed "up"): one GEMM over disjoint receptive fields (down.ts).
 * - forward otherwise: the direct halo-tiled implicit GEMM (direct.ts).
 * - backward-input, stride 1, under the same channel rule: the implicit GEMM on gy.
 * - backward-input, kernel = stride, no padding, no dilation (the V-Net's transposed 2³/2 "up"): one GEMM,
 *   every input voxel gets exactly one tap (up.ts).
 * - backward-input otherwise: the direct kernel, one dispatch per stride phase.
 * - backward-weight with at least implicitGemmWeightGradientMinChannels (16) output channels, on a GPU: the
 *   implicit GEMM over (ci, tap) rows × Co columns × voxels (wgemm.ts).
 * - backward-weight otherwise: the halo-staged wgrad kernel (wgrad.ts).
 * Each kernel file chooses its tiles (a small cost model over the shape and the device's workgroup-memory limit)
 * and split-K; the candidates (conv3dCandidates) add the other applicable kernels, the implicit GEMMs' other tile
 * shapes and the direct kernel with half as many channels per invocation.
 */

export type Conv3dOp = 'forward' | 'backwardInput' | 'backwardWeight';

/** One convolution to compute: what the choice table is keyed by and what the tuner times. */
export interface Conv3dProblem {
  op: Conv3dOp;
  /** the convolution's input and weight shapes (for the gradients: of the convolution they belong to) */
  xShape: number[];
  wShape: number[];
  params: Conv3dParams;
  /**
   * the forward (or convTranspose3d's, a backwardInput) adds a bias; `norm`: its final write also applies a batch
   * norm (and a ReLU), as an inference Conv3d → BatchNorm3d → ReLU. Neither changes the choice, only the kernel
   * variant that computes it, hence what the tuner runs.
   */
  bias: boolean;
  norm?: Conv3dProblemNorm;
}

/** the batch norm of a problem's epilogue: which of its terms it has, its eps, and whether a ReLU follows */
export interface Conv3dProblemNorm { weight: boolean; bias: boolean; eps: number; relu: boolean }

/** the epilogue a problem's kernels apply (its norm's eps as float32 bits, as the kernels hold it) */
export function problemEpilogue(p: Pick<Conv3dProblem, 'bias' | 'norm'>): Epilogue {
  if (!p.norm) return p.bias ? biasEpilogue : noEpilogue;
  return { bias: p.bias, norm: { weight: p.norm.weight, bias: p.norm.bias, epsBits: new Uint32Array(Float32Array.of(p.norm.eps).buffer)[0]! }, relu: p.norm.relu };
}

/** One way to compute a convolution (JSON-serialisable). */
export type Conv3dCandidate =
  /** the direct kernel, `tn` channels per invocation (4, 8 or 16; default: the cost model's) */
  | { kernel: 'direct'; tn?: number }
  /** the implicit GEMM (stride 1) with this tile shape */
  | { kernel: 'gemm'; shape: GemmShape }
  /** the kernel = stride forward GEMM */
  | { kernel: 'down' }
  /** the kernel = stride input-gradient GEMM */
  | { kernel: 'up' }
  /** the halo-staged weight-gradient kernel */
  | { kernel: 'wgrad' }
  /** the implicit-GEMM weight-gradient kernel with this tile shape */
  | { kernel: 'wgemm'; shape: GemmShape };

export function candidateName(c: Conv3dCandidate): string {
  switch (c.kernel) {
    case 'direct': return c.tn === undefined ? 'direct' : `direct tn ${c.tn}`;
    case 'gemm': return `implicit GEMM ${c.shape.bm}×${c.shape.bn}×${c.shape.bk} ${c.shape.tm}×${c.shape.tn}`;
    case 'down': return 'down GEMM';
    case 'up': return 'up GEMM';
    case 'wgrad': return 'wgrad';
    case 'wgemm': return `weight GEMM ${c.shape.bm}×${c.shape.bn}×${c.shape.bk} ${c.shape.tm}×${c.shape.tn}`;
  }
}

const problemKey = (op: Conv3dOp, g: ConvGeometry): string =>
  `${op} x${fmt([g.n, g.ci, ...g.in])} w${fmt([g.co, g.ci, ...g.k])} s${fmt(g.s)} p${fmt(g.p)} d${fmt(g.dil)}`;

/** A problem's identity (bias aside: it does not change the choice), e.g. 'forward x[4, 32, 56, 56, 40]
 * w[32, 32, 3, 3, 3] s[1, 1, 1] p[1, 1, 1] d[1, 1, 1]'; validates the shapes. */
export function conv3dProblemKey(p: Pick<Conv3dProblem, 'op' | 'xShape' | 'wShape' | 'params'>): string {
  return problemKey(p.op, convGeometry(p.xShape, p.wShape, p.params));
}

/** The plan of a candidate for a problem, applying epilogue `e` in its write (forward and input gradient only);
 * throws naming both where the candidate cannot compute it. */
export function planFor(ctx: PlanContext, op: Conv3dOp, g: ConvGeometry, c: Conv3dCandidate, e: Epilogue): Conv3dPlan {
  const fail = (): never => { throw new Error(`webgpu conv3d: candidate '${candidateName(c)}' cannot compute ${problemKey(op, g)}`); };
  if (op === 'backwardWeight') {
    if (e.bias || e.norm) throw new Error('webgpu conv3d: the weight gradient takes no epilogue');
    if (c.kernel === 'wgemm') return wgemmPlan(ctx, g, c.shape) ?? fail();
    return c.kernel === 'wgrad' ? wgradPlan(ctx, g) : fail();
  }
  switch (c.kernel) {
    case 'down': return (op === 'forward' ? downPlan(ctx, g, e) : null) ?? fail();
    case 'up': return (op === 'backwardInput' ? upPlan(g, e) : null) ?? fail();
    case 'gemm': return gemmPlan(ctx, op, g, e, c.shape) ?? fail();
    case 'direct': return directPlan(ctx, op, g, e, c.tn);
    case 'wgrad':
    case 'wgemm': return fail();
  }
}

/** The default candidate (the heuristic the knobs steer). */
function defaultCandidate(ctx: PlanContext, op: Conv3dOp, g: ConvGeometry): Conv3dCandidate {
  const { knobs } = ctx;
  const gemms = !ctx.rt.software || knobs.softwareAdapterGemms;
  if (op === 'backwardWeight') {
    const shape = gemms && g.co >= knobs.implicitGemmWeightGradientMinChannels ? wgemmShapesFor(ctx, g)[0] : undefined;
    return shape ? { kernel: 'wgemm', shape } : { kernel: 'wgrad' };
  }
  const [written, read] = op === 'forward' ? [g.co, g.ci] : [g.ci, g.co];
  const shape = gemms && written >= knobs.implicitGemmMinChannels && read >= knobs.implicitGemmMinReadChannels ? gemmShapesFor(ctx, op, g)[0] : undefined;
  if (shape) return { kernel: 'gemm', shape };
  if (op === 'forward' && knobs.downKernel && downPlan(ctx, g, noEpilogue)) return { kernel: 'down' };
  if (op === 'backwardInput' && knobs.upKernel && upPlan(g, noEpilogue)) return { kernel: 'up' };
  return { kernel: 'direct' };
}

/** a cached plan, and the next one whose problem has the same hash */
interface CachedPlan { op: Conv3dOp; g: ConvGeometry; e: Epilogue; plan: Conv3dPlan; next: CachedPlan | null }

const OPS: readonly Conv3dOp[] = ['forward', 'backwardInput', 'backwardWeight'];

/** an epilogue's flags as bits (its eps aside) */
const epilogueFlags = (e: Epilogue): number =>
  (e.bias ? 1 : 0) + (e.norm ? 2 + (e.norm.weight ? 4 : 0) + (e.norm.bias ? 8 : 0) : 0) + (e.relu ? 16 : 0);

const sameEpilogue = (a: Epilogue, b: Epilogue): boolean =>
  a === b || (epilogueFlags(a) === epilogueFlags(b) && a.norm?.epsBits === b.norm?.epsBits);

/** a problem's hash over the numbers that determine it (the output size follows from them) */
function problemHash(op: Conv3dOp, g: ConvGeometry, e: Epilogue): number {
  let hash = mixHash(mixHash(mixHash(mixHash(32 * OPS.indexOf(op) + epilogueFlags(e), e.norm ? e.norm.epsBits : 0), g.n), g.ci), g.co);
  for (let a = 0; a < 3; a++) hash = mixHash(mixHash(mixHash(mixHash(mixHash(hash, g.in[a]), g.k[a]), g.s[a]), g.p[a]), g.dil[a]);
  return hash & SMI_MASK;
}

function sameProblem(c: CachedPlan, op: Conv3dOp, g: ConvGeometry, e: Epilogue): boolean {
  const h = c.g;
  if (c.op !== op || !sameEpilogue(c.e, e) || h.n !== g.n || h.ci !== g.ci || h.co !== g.co) return false;
  for (let a = 0; a < 3; a++) {
    if (h.in[a] !== g.in[a] || h.k[a] !== g.k[a] || h.s[a] !== g.s[a] || h.p[a] !== g.p[a] || h.dil[a] !== g.dil[a]) return false;
  }
  return true;
}

/**
 * One runtime's conv3d choices: its knobs, its choice table (problem → candidate, filled by the tuner), the
 * candidate forced for a benchmark or the tuner, and the plans of the problems it computed, so that a training
 * step plans each of its convolutions once (planning costs the host more than recording the dispatches).
 */
export class Conv3dTuning implements PlanContext {
  /**
   * While set (by recordConv3dProblems and the tuner), the entry points call it with each problem they computed
   * and the runtime's dispatch count before and after its dispatches.
   */
  observer: ((problem: Conv3dProblem, firstDispatch: number, endDispatch: number) => void) | null = null;
  private current: Readonly<Conv3dKnobs> = defaultConv3dKnobs;
  private readonly choices = new Map<string, Conv3dCandidate>();
  private forced: Conv3dCandidate | null = null;
  /**
   * the hash of (problem, epilogue) → its plans (chained by hash); emptied when the knobs or the choice table change.
   * Numeric keys: formatting and hashing a string key per convolution cost more than the rest of the lookup.
   */
  private readonly plans = new Map<number, CachedPlan>();

  constructor(readonly rt: HasLimits) {}

  get knobs(): Readonly<Conv3dKnobs> { return this.current; }

  /** Changes some knobs (tests and benchmarks; `configure(saved)` restores what `knobs` returned). */
  configure(changes: Partial<Conv3dKnobs>): void {
    this.current = Object.freeze({ ...this.current, ...changes });
    this.plans.clear();
  }

  /** The candidate that computes a problem, and why: forced, the choice table's, or the default. */
  choose(op: Conv3dOp, g: ConvGeometry): { c: Conv3dCandidate; source: 'forced' | 'tuned' | 'default' } {
    if (this.forced) return { c: this.forced, source: 'forced' };
    const tuned = this.choices.get(problemKey(op, g));
    return tuned ? { c: tuned, source: 'tuned' } : { c: defaultCandidate(this, op, g), source: 'default' };
  }

  /** The plan that computes a problem with an epilogue (noEpilogue, biasEpilogue or a batch norm's; a forced
   * candidate is planned on each call). The epilogue does not change the choice of the kernel. */
  plan(op: Conv3dOp, g: ConvGeometry, e: Epilogue): Conv3dPlan {
    if (this.forced) return planFor(this, op, g, this.forced, e);
    const hash = problemHash(op, g, e);
    let entry = this.plans.get(hash);
    while (entry && !sameProblem(entry, op, g, e)) entry = entry.next ?? undefined;
    if (entry) return entry.plan;
    const plan = planFor(this, op, g, this.choose(op, g).c, e);
    this.plans.set(hash, { op, g, e, plan, next: this.plans.get(hash) ?? null });
    return plan;
  }

  /** Records the candidate that computes a problem (checked to apply to it). */
  setChoice(problem: Conv3dProblem, c: Conv3dCandidate): void {
    const g = convGeometry(problem.xShape, problem.wShape, problem.params);
    planFor(this, problem.op, g, c, problemEpilogue(problem));
    this.choices.set(problemKey(problem.op, g), c);
    this.plans.clear();
  }

  /** The candidate the choice table holds for a problem, if any. */
  choiceOf(problem: Pick<Conv3dProblem, 'op' | 'xShape' | 'wShape' | 'params'>): Conv3dCandidate | undefined {
    return this.choices.get(conv3dProblemKey(problem));
  }

  /** Removes a problem's choice (it goes back to its default). */
  removeChoice(problem: Pick<Conv3dProblem, 'op' | 'xShape' | 'wShape' | 'params'>): void {
    if (this.choices.delete(conv3dProblemKey(problem))) this.plans.clear();
  }

  /** Empties the choice table (every problem goes back to its default). */
  clearChoices(): void {
    this.choices.clear();
    this.plans.clear();
  }

  /** Runs `fn` (synchronous: it records dispatches) with every convolution computed by candidate `c`. */
  withCandidate<T>(c: Conv3dCandidate, fn: () => T): T {
    const outer = this.forced;
    this.forced = c;
    try { return fn(); } finally { this.forced = outer; }
  }
}

const tunings = new WeakMap<HasLimits, Conv3dTuning>();

/** The conv3d choices of a runtime (or of nominal limits), made on first use. */
export function conv3dTuning(rt: HasLimits): Conv3dTuning {
  let t = tunings.get(rt);
  if (!t) { t = new Conv3dTuning(rt); tunings.set(rt, t); }
  return t;
}

/**
 * The candidates for a problem, the default first: the kernel = stride GEMMs where they apply, the implicit
 * GEMM's tile shapes that fit (stride 1), the direct kernel with the cost model's tiles and with half its
 * channels per invocation; for the weight gradient the wgrad kernel, then the weight GEMM's tile shapes.
 */
export function conv3dCandidates(rt: HasLimits, op: Conv3dOp, xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Conv3dCandidate[] {
  const g = convGeometry(xShape, wShape, p);
  const ctx = conv3dTuning(rt);
  const all: Conv3dCandidate[] = [defaultCandidate(ctx, op, g)];
  if (op === 'backwardWeight') {
    all.push({ kernel: 'wgrad' });
    for (const shape of wgemmShapesFor(ctx, g)) all.push({ kernel: 'wgemm', shape });
  } else {
    if (op === 'forward' && downPlan(ctx, g, noEpilogue)) all.push({ kernel: 'down' });
    if (op === 'backwardInput' && upPlan(g, noEpilogue)) all.push({ kernel: 'up' });
    for (const shape of gemmShapesFor(ctx, op, g)) all.push({ kernel: 'gemm', shape });
    all.push({ kernel: 'direct' });
    const tn = modelTn(op === 'forward' ? g.co : g.ci);
    if (tn > 4) all.push({ kernel: 'direct', tn: tn / 2 });
  }
  const names = new Set<string>();
  return all.filter((c) => !names.has(candidateName(c)) && names.add(candidateName(c)));
}
