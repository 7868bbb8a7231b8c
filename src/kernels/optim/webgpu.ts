import type { AdamDeviceSteps, AdamItem, AdamParams, Backend, RmspropItem, RmspropParams, SgdItem, SgdParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d, wgslFlatIndex } from '../webgpu/runtime.js';
import { checkFoundInf } from '../amp/checks.js';
import { logBeta, wgslOneMinusPower } from './bias-correction.js';
import { checkDeviceSteps, checkRmspropItems, checkStepCounts } from './checks.js';
import { MAX_SEGMENTS, MULTI_TENSOR_WG, SEGMENT_ROWS, chunks, field, multiParamSource, segmentsPerDispatch, type SharedBindings } from '../webgpu/multi-tensor.js';

/**
 * Fused, in-place optimizer steps: one dispatch per parameter (sgdStep) or per few parameters
 * (sgdSteps, adamSteps, rmspropSteps), one invocation per element, in PyTorch's order (see the cpu oracle). Scalars that
 * depend only on the step (bias corrections) are computed on the host in float64, except in adamSteps decided on
 * the device, whose step counts live there: then in float32 in the kernel, as PyTorch's capturable Adam.
 */

const WG = 256;

function sgdSource(momentum: boolean): string {
  return /* wgsl */ `
struct Params { n: u32, nesterov: u32, first: u32, pad: u32, lr: f32, momentum: f32, dampening: f32, wd: f32 }
@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
${momentum ? '@group(0) @binding(2) var<storage, read_write> buf: array<f32>;' : ''}
@group(0) @binding(${momentum ? 3 : 2}) var<uniform> P: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let wi = w[i];
  var d = g[i] + P.wd * wi;
  ${momentum ? `var b = d;
  if (P.first == 0u) { b = P.momentum * buf[i] + (1.0 - P.dampening) * d; }
  buf[i] = b;
  d = select(b, d + P.momentum * b, P.nesterov != 0u);` : ''}
  w[i] = wi - P.lr * d;
}`;
}

/**
 * The skipping variants' shared binding (PyTorch's fused optimizers' found_inf): a flag the loss scaler's unscale
 * set (non-zero bits) when a gradient is NaN or Inf, and then nothing is written.
 */
const skipOnFoundInf: SharedBindings = {
  declarations: ['var<storage, read> found_inf: array<u32>;'],
  prologue: '  if (found_inf[0] != 0u) { return; }',
};

/**
 * sgdSource's update for `count` parameters in one dispatch (multiParamSource), w<k>, g<k> (and buf<k>) each;
 * with `skip`, the variant that reads a found-inf flag
 */
function sgdMultiSource(momentum: boolean, count: number, skip: boolean): string {
  const perParam = momentum ? 3 : 2;
  return multiParamSource(`struct Params { n: u32, nesterov: u32, pad0: u32, pad1: u32, lr: f32, momentum: f32, dampening: f32, wd: f32,
  ends: array<vec4<u32>, ${SEGMENT_ROWS}>, first: array<vec4<u32>, ${SEGMENT_ROWS}> }`, perParam, count,
  (k) => `@group(0) @binding(${perParam * k}) var<storage, read_write> w${k}: array<f32>;
@group(0) @binding(${perParam * k + 1}) var<storage, read> g${k}: array<f32>;
${momentum ? `@group(0) @binding(${perParam * k + 2}) var<storage, read_write> buf${k}: array<f32>;` : ''}`,
  (k) => `let wi = w${k}[j];
    var d = g${k}[j] + P.wd * wi;
    ${momentum ? `var b = d;
    if (${field('first', k)} == 0u) { b = P.momentum * buf${k}[j] + (1.0 - P.dampening) * d; }
    buf${k}[j] = b;
    d = select(b, d + P.momentum * b, P.nesterov != 0u);` : ''}
    w${k}[j] = wi - P.lr * d;`, skip ? skipOnFoundInf : undefined);
}

/**
 * One element's Adam/AdamW update of w<k>[j], m<k>[j], v<k>[j], in the cpu oracle's order; stepSize (lr/c1) and c2 are the bias corrections; 1 − β₁ and 1 − β₂ are formed on the host in
 * float64, as PyTorch's (1 − float32(β₂) would be 1.3e-5 from float32(0.001)). With `amsgrad`, vmax<k>[j] (max_exp_avg_sq)
 * ← max(itself, v), which then divides instead of v.
 */
function adamUpdate(k: number, stepSize: string, c2: string, amsgrad: boolean): string {
  return `var wi = w${k}[j];
  var d = g${k}[j];
  if (P.decoupled != 0u) { wi = wi * P.decay; } else { d += P.wd * wi; }
  let mi = P.beta1 * m${k}[j] + P.one_minus_beta1 * d;
  let vi = P.beta2 * v${k}[j] + P.one_minus_beta2 * d * d;
  m${k}[j] = mi;
  v${k}[j] = vi;
  ${amsgrad ? `let second = max(vmax${k}[j], vi);
  vmax${k}[j] = second;` : 'let second = vi;'}
  w${k}[j] = wi - ${stepSize} * mi / (sqrt(second / ${c2}) + P.eps);`;
}

/**
 * Adam's update (adamUpdate) for `count` parameters in one dispatch (multiParamSource), each with its own bias corrections:
 * from the host, or with `deviceSteps` computed from the step counts on the device (skipping on found_inf); with
 * `amsgrad` a fifth buffer per parameter, its max_exp_avg_sq
 */
function adamMultiSource(count: number, deviceSteps: boolean, amsgrad: boolean): string {
  const perParam = amsgrad ? 5 : 4;
  const perSegment = deviceSteps ? `count_at: array<vec4<u32>, ${SEGMENT_ROWS}>`
    : `step_size: array<vec4<f32>, ${SEGMENT_ROWS}>, c2: array<vec4<f32>, ${SEGMENT_ROWS}>`;
  return multiParamSource(`struct Params { n: u32, decoupled: u32, one_minus_beta1: f32, one_minus_beta2: f32, beta1: f32, beta2: f32, eps: f32, wd: f32,
  decay: f32, lr: f32, log_beta1: f32, log_beta2: f32, ends: array<vec4<u32>, ${SEGMENT_ROWS}>, ${perSegment} }${deviceSteps ? wgslOneMinusPower : ''}`, perParam, count,
  (k) => `@group(0) @binding(${perParam * k}) var<storage, read_write> w${k}: array<f32>;
@group(0) @binding(${perParam * k + 1}) var<storage, read> g${k}: array<f32>;
@group(0) @binding(${perParam * k + 2}) var<storage, read_write> m${k}: array<f32>;
@group(0) @binding(${perParam * k + 3}) var<storage, read_write> v${k}: array<f32>;
${amsgrad ? `@group(0) @binding(${perParam * k + 4}) var<storage, read_write> vmax${k}: array<f32>;` : ''}`,
  (k) => (deviceSteps ? `let t = counts[${field('count_at', k)}] + 1.0;
    let step_size = P.lr / one_minus_power(P.log_beta1, t);
    let c2 = one_minus_power(P.log_beta2, t);
    ${adamUpdate(k, 'step_size', 'c2', amsgrad)}` : adamUpdate(k, field('step_size', k), field('c2', k), amsgrad)),
  deviceSteps ? { declarations: [...skipOnFoundInf.declarations, 'var<storage, read> counts: array<f32>;'], prologue: skipOnFoundInf.prologue } : undefined);
}

function checkF32(what: string, ...storages: Storage[]): void {
  const n = storages[0].length;
  for (const s of storages) {
    if (s.dtype !== 'float32') throw new Error(`webgpu ${what}: float32 storages only, got ${s.dtype}`);
    if (s.length !== n) throw new Error(`webgpu ${what}: storages of different lengths (${n}, ${s.length})`);
  }
}

export function sgdStep(rt: GpuRuntime, param: Storage, grad: Storage, momentumBuffer: Storage | null, p: SgdParams): void {
  const momentum = momentumBuffer !== null && p.momentum !== 0;
  checkF32('sgdStep', param, grad, ...(momentum ? [momentumBuffer] : []));
  const n = param.length;
  if (n === 0) return;
  const kernel = rt.kernel(`sgd:${momentum ? 'm' : 'plain'}`, () => sgdSource(momentum), momentum ? 3 : 2);
  const params = new Params().u32(n, p.nesterov ? 1 : 0, p.firstStep ? 1 : 0, 0)
    .f32(p.lr, p.momentum, p.dampening, p.weightDecay).done();
  const buffers = [gpuBuffer(param), gpuBuffer(grad)];
  if (momentum) buffers.push(gpuBuffer(momentumBuffer));
  rt.dispatch(kernel, buffers, params, grid1d(n, WG));
}

/**
 * sgdStep for several parameters with the same hyperparameters: up to MAX_SEGMENTS parameters per dispatch (as
 * many as the storage-binding limit allows), each element updated by the same expressions as sgdStep's kernel.
 * With `foundInf`, a variant of the kernels that writes nothing when the flag is set (decided on the device).
 */
export function sgdSteps(rt: GpuRuntime, items: readonly SgdItem[], p: Omit<SgdParams, 'firstStep'>, foundInf?: Storage | null): void {
  const withMomentum: SgdItem[] = [], plain: SgdItem[] = [];
  for (const it of items) {
    const momentum = it.momentumBuffer !== null && p.momentum !== 0;
    checkF32('sgdSteps', it.param, it.grad, ...(momentum ? [it.momentumBuffer!] : []));
    if (it.param.length > 0) (momentum ? withMomentum : plain).push(it);
  }
  const skip = foundInf !== undefined && foundInf !== null;
  if (skip) checkFoundInf('webgpu sgdSteps', foundInf);
  for (const [list, momentum] of [[withMomentum, true], [plain, false]] as const) {
    const perParam = momentum ? 3 : 2;
    for (const batch of chunks(list, segmentsPerDispatch(rt, perParam, skip ? 1 : 0))) {
      const kernel = rt.kernel(`sgd:${momentum ? 'm' : 'plain'}:${batch.length}${skip ? ':skip' : ''}`,
        () => sgdMultiSource(momentum, batch.length, skip), perParam * batch.length + (skip ? 1 : 0));
      const ends: number[] = [], first: number[] = [], buffers: GPUBuffer[] = [];
      let n = 0;
      for (const it of batch) {
        n += it.param.length;
        ends.push(n);
        first.push(it.firstStep ? 1 : 0);
        buffers.push(gpuBuffer(it.param), gpuBuffer(it.grad));
        if (momentum) buffers.push(gpuBuffer(it.momentumBuffer!));
      }
      if (skip) buffers.push(gpuBuffer(foundInf));
      const params = new Params().u32(n, p.nesterov ? 1 : 0, 0, 0).f32(p.lr, p.momentum, p.dampening, p.weightDecay)
        .vec4s(ends, SEGMENT_ROWS).vec4s(first, SEGMENT_ROWS).done();
      rt.dispatch(kernel, buffers, params, grid1d(n, MULTI_TENSOR_WG));
    }
  }
}

/** the bias-corrected step size lr/(1 − β₁ᵗ) and 1 − β₂ᵗ, in float64 */
function biasCorrections(p: AdamParams, step: number): { stepSize: number; c2: number } {
  return { stepSize: p.lr / (1 - Math.pow(p.beta1, step)), c2: 1 - Math.pow(p.beta2, step) };
}

/**
 * Adam's or AdamW's step for several parameters with the same hyperparameters (each with its own step count): as many
 * parameters per dispatch as the storage-binding limit allows (4 buffers each, 5 with amsgrad's max_exp_avg_sq: 4
 * or 3 on 16, 8 or 6 from 32 on; with `deviceSteps` 2 buffers fewer in all); the parameters with and without
 * max_exp_avg_sq in separate dispatches.
 */
export function adamSteps(rt: GpuRuntime, items: readonly AdamItem[], p: AdamParams, deviceSteps?: AdamDeviceSteps | null): void {
  const plain: AdamItem[] = [], amsgrad: AdamItem[] = [];
  for (const it of items) {
    checkF32('adamSteps', it.param, it.grad, it.expAvg, it.expAvgSq, ...(it.maxExpAvgSq ? [it.maxExpAvgSq] : []));
    if (it.param.length > 0) (it.maxExpAvgSq ? amsgrad : plain).push(it);
  }
  if (deviceSteps) checkDeviceSteps('webgpu adamSteps', items, deviceSteps);
  const shared = deviceSteps ? [gpuBuffer(deviceSteps.foundInf), gpuBuffer(deviceSteps.counts)] : [];
  for (const [list, withMax] of [[plain, false], [amsgrad, true]] as const) {
    const perParam = withMax ? 5 : 4;
    for (const batch of chunks(list, segmentsPerDispatch(rt, perParam, shared.length))) {
      dispatchAdam(rt, batch, p, deviceSteps, shared, withMax);
    }
  }
}

/** one dispatch of adamSteps: `batch`'s parameters, each with a max_exp_avg_sq when `amsgrad` */
function dispatchAdam(rt: GpuRuntime, batch: readonly AdamItem[], p: AdamParams, deviceSteps: AdamDeviceSteps | null | undefined,
  shared: readonly GPUBuffer[], amsgrad: boolean): void {
  const variant = `${deviceSteps ? ':device' : ''}${amsgrad ? ':amsgrad' : ''}`;
  const kernel = rt.kernel(`adam:${batch.length}${variant}`, () => adamMultiSource(batch.length, !!deviceSteps, amsgrad),
    (amsgrad ? 5 : 4) * batch.length + shared.length);
  const ends: number[] = [], buffers: GPUBuffer[] = [];
  let n = 0;
  for (const it of batch) {
    n += it.param.length;
    ends.push(n);
    buffers.push(gpuBuffer(it.param), gpuBuffer(it.grad), gpuBuffer(it.expAvg), gpuBuffer(it.expAvgSq));
    if (amsgrad) buffers.push(gpuBuffer(it.maxExpAvgSq!));
  }
  const params = new Params().u32(n, p.decoupled ? 1 : 0).f32(1 - p.beta1, 1 - p.beta2)
    .f32(p.beta1, p.beta2, p.eps, p.weightDecay, 1 - p.lr * p.weightDecay, p.lr, logBeta(p.beta1), logBeta(p.beta2)).vec4s(ends, SEGMENT_ROWS);
  if (deviceSteps) params.vec4s(batch.map((it) => it.step), SEGMENT_ROWS);
  else {
    const corrections = batch.map((it) => biasCorrections(p, it.step));
    const pad = (values: number[]) => [...values, ...new Array<number>(MAX_SEGMENTS - values.length).fill(0)];
    params.f32(...pad(corrections.map((c) => c.stepSize)), ...pad(corrections.map((c) => c.c2)));
  }
  rt.dispatch(kernel, [...buffers, ...shared], params.done(), grid1d(n, MULTI_TENSOR_WG));
}

/**
 * RMSprop's update for `count` parameters in one dispatch (multiParamSource): w<k>, g<k>, sq<k> (square_avg), and
 * ga<k> (grad_avg, centered), buf<k> (momentum); in the cpu oracle's order, 1 − α rounded to float32 on the host
 * (as a scalar of the elementwise ops: the same floats as RMSprop composed of them)
 */
function rmspropMultiSource(centered: boolean, momentum: boolean, count: number, skip: boolean): string {
  const names = ['w', 'g', 'sq', ...(centered ? ['ga'] : []), ...(momentum ? ['buf'] : [])];
  return multiParamSource(`struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32, lr: f32, alpha: f32, one_minus_alpha: f32, eps: f32,
  wd: f32, momentum: f32, pad3: f32, pad4: f32, ends: array<vec4<u32>, ${SEGMENT_ROWS}> }`, names.length, count,
  (k) => names.map((name, b) => `@group(0) @binding(${names.length * k + b}) var<storage, ${name === 'g' ? 'read' : 'read_write'}> ${name}${k}: array<f32>;`).join('\n'),
  (k) => `let wi = w${k}[j];
    var d = g${k}[j];
    if (P.wd != 0.0) { d = d + P.wd * wi; }
    let v = P.alpha * sq${k}[j] + P.one_minus_alpha * (d * d);
    sq${k}[j] = v;
    ${centered ? `let a = P.alpha * ga${k}[j] + P.one_minus_alpha * d;
    ga${k}[j] = a;
    let scaled = d / (sqrt(v - a * a) + P.eps);` : 'let scaled = d / (sqrt(v) + P.eps);'}
    ${momentum ? `let b = P.momentum * buf${k}[j] + scaled;
    buf${k}[j] = b;
    w${k}[j] = wi - P.lr * b;` : `w${k}[j] = wi - P.lr * scaled;`}`, skip ? skipOnFoundInf : undefined);
}

/**
 * RMSprop's step for several parameters with the same hyperparameters: as many parameters per dispatch as the
 * storage-binding limit allows (3 to 5 buffers each); with `foundInf`, the variant that writes nothing when it is set.
 */
export function rmspropSteps(rt: GpuRuntime, items: readonly RmspropItem[], p: RmspropParams, foundInf?: Storage | null): void {
  checkRmspropItems('webgpu rmspropSteps', items, p, foundInf);
  const list = items.filter((it) => it.param.length > 0);
  for (const it of list) checkF32('rmspropSteps', it.param, it.grad, it.squareAvg, ...(it.gradAvg ? [it.gradAvg] : []), ...(it.momentumBuffer ? [it.momentumBuffer] : []));
  const momentum = p.momentum > 0, perParam = 3 + (p.centered ? 1 : 0) + (momentum ? 1 : 0);
  const shared = foundInf ? [gpuBuffer(foundInf)] : [];
  for (const batch of chunks(list, segmentsPerDispatch(rt, perParam, shared.length))) {
    const kernel = rt.kernel(`rmsprop:${p.centered ? 'c' : ''}${momentum ? 'm' : ''}:${batch.length}${foundInf ? ':skip' : ''}`,
      () => rmspropMultiSource(p.centered, momentum, batch.length, !!foundInf), perParam * batch.length + shared.length);
    const ends: number[] = [], buffers: GPUBuffer[] = [];
    let n = 0;
    for (const it of batch) {
      n += it.param.length;
      ends.push(n);
      buffers.push(gpuBuffer(it.param), gpuBuffer(it.grad), gpuBuffer(it.squareAvg));
      if (it.gradAvg) buffers.push(gpuBuffer(it.gradAvg));
      if (it.momentumBuffer) buffers.push(gpuBuffer(it.momentumBuffer));
    }
    const params = new Params().u32(n, 0, 0, 0).f32(p.lr, p.alpha, 1 - p.alpha, p.eps, p.weightDecay, p.momentum, 0, 0)
      .vec4s(ends, SEGMENT_ROWS).done();
    rt.dispatch(kernel, [...buffers, ...shared], params, grid1d(n, MULTI_TENSOR_WG));
  }
}

function stepCountsSource(indexed: boolean, flag: boolean): string {
  const declarations = ['@group(0) @binding(0) var<storage, read_write> counts: array<f32>;'];
  if (indexed) declarations.push(`@group(0) @binding(${declarations.length}) var<storage, read> stepped: array<i32>;`);
  if (flag) declarations.push(`@group(0) @binding(${declarations.length}) var<storage, read> found_inf: array<f32>;`);
  return /* wgsl */ `
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
${declarations.join('\n')}
@group(0) @binding(${declarations.length}) var<uniform> P: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let c = ${indexed ? 'u32(stepped[i])' : 'i'};
  if (c >= arrayLength(&counts)) { return; }
  counts[c] = counts[c] + ${flag ? '(1.0 - found_inf[0])' : '1.0'};
}`;
}

/** one dispatch whatever the number of counts (their indices are distinct: one invocation each) */
export function advanceStepCounts(rt: GpuRuntime, counts: Storage, stepped: Storage | null, foundInf?: Storage | null): void {
  checkStepCounts('webgpu advanceStepCounts', counts, stepped, foundInf);
  const n = stepped ? stepped.length : counts.length;
  if (n === 0) return;
  const buffers = [gpuBuffer(counts), ...(stepped ? [gpuBuffer(stepped)] : []), ...(foundInf ? [gpuBuffer(foundInf)] : [])];
  const kernel = rt.kernel(`step-counts:${stepped ? 'indexed' : 'all'}${foundInf ? ':flag' : ''}`, () => stepCountsSource(!!stepped, !!foundInf), buffers.length);
  rt.dispatch(kernel, buffers, new Params().u32(n, 0, 0, 0).done(), grid1d(n, WG));
}

/** the V-Net's parameter count */
const VNET_PARAMS = 9_450_000;

/** per element: flops, bytes read and written (RMSprop centered with momentum: 5 read, 4 written) */
const BENCH_COST = { sgd: [6, 20], adam: [16, 28], rmsprop: [14, 36] } as const;

function optimBench(name: string, n: number, kind: keyof typeof BENCH_COST, large = false): KernelBenchmark {
  const [flops, bytes] = BENCH_COST[kind];
  return {
    group: 'optim', name, flops: flops * n, bytes: bytes * n, large,
    setup(backend: Backend) {
      const w = backend.fill(n, 0.1, 'float32'), g = backend.fill(n, 0.01, 'float32');
      const a = backend.fill(n, 0, 'float32'), b = backend.fill(n, 0, 'float32'), c = backend.fill(n, 0, 'float32');
      let step = 1;
      return {
        run() {
          if (kind === 'sgd') {
            backend.sgdStep(w, g, a, { lr: 0.01, momentum: 0.99, dampening: 0, nesterov: true, weightDecay: 1e-4, firstStep: step++ === 1 });
          } else if (kind === 'adam') {
            backend.adamSteps([{ param: w, grad: g, expAvg: a, expAvgSq: b, step: step++ }], { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: true });
          } else {
            backend.rmspropSteps([{ param: w, grad: g, squareAvg: a, gradAvg: b, momentumBuffer: c }],
              { lr: 1e-3, alpha: 0.99, eps: 1e-8, weightDecay: 1e-4, momentum: 0.9, centered: true });
          }
        },
        dispose() { for (const s of [w, g, a, b, c]) backend.free(s); },
      };
    },
  };
}

export const benchmarks: KernelBenchmark[] = [
  optimBench('sgd nesterov 1M', 1 << 20, 'sgd'),
  optimBench('sgd nesterov 9.45M (V-Net)', VNET_PARAMS, 'sgd', true),
  optimBench('adamw 1M', 1 << 20, 'adam'),
  optimBench('adamw 9.45M (V-Net)', VNET_PARAMS, 'adam', true),
  optimBench('rmsprop centered momentum 1M', 1 << 20, 'rmsprop'),
];
