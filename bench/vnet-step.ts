/**
 * One full V-Net training step as the PyTorch anchor (shared/anchors/torch_vnet_step.py): forward of the
 * n_filters-16 V-Net with a 2-channel segmentation head and a tanh 2-channel SDF head, cross entropy +
 * MSE, backward, SGD (lr 0.01, momentum 0.9, weight decay 1e-4). Nothing is read back inside a step; each
 * timed step ends with one GPU sync. Prints the median step time, the exact peaks of live and reserved
 * (live + pooled) memory, dispatches and backend calls per step, and the
 * PyTorch-equivalent FLOPs (FlopCounterMode's convention: 2·N·|W|·|out| per conv forward, twice that for
 * its backward, only the weight gradient for the first layer).
 *
 *   npx tsx bench/vnet-step.ts [--backend webgpu|cpu|auto] [--batch 4] [--patch 112,112,80] [--filters 16]
 *                              [--iters 10] [--warmup 2] [--tune] [--tune-reps 5] [--submit-every 512,64]
 *                              [--json FILE]
 * Then the throughput as the anchor measures it (--iters steps back to back, one sync), once per --submit-every
 * value (dispatches per queue submit; default the runtime's), and the fastest is kept for what follows.
 * --tune: then records the step's conv3d problems, tunes them (cuDNN's benchmark mode, see tuneConv3d) and
 * times the step again with the chosen kernels.
 * On a machine without a GPU use small shapes, e.g. --batch 2 --patch 32,32,32.
 */
import { writeFileSync } from 'node:fs';
import { add, backward } from '../src/autograd/index.js';
import { WebGPUBackend, type Backend } from '../src/kernels/index.js';
import { Conv3d, ConvTranspose3d, SGD, VNet } from '../src/models/index.js';
import { crossEntropy, mseLoss } from '../src/models/losses.js';
import { dispose, fromArray, initBackend, memory, randn, tidy, uniform, type Tensor } from '../src/tensor/index.js';
import { parseBenchArgs } from './args.js';
import { median, memoryPeaks, printProfile, profileKernels, throughputBySubmitInterval, tuneStepConvolutions } from './profile.js';

const args = parseBenchArgs({
  about: 'One full V-Net training step as the PyTorch anchor: median step time, memory peaks, dispatches, FLOPs, throughput.',
  options: {
    backend: { type: 'string', default: 'auto', arg: 'auto|webgpu|cpu', help: 'backend' },
    batch: { type: 'string', default: '4', arg: 'N', help: 'samples per batch' },
    patch: { type: 'string', default: '112,112,80', arg: 'X,Y,Z', help: 'patch size (without a GPU: e.g. 32,32,32)' },
    filters: { type: 'string', default: '16', arg: 'N', help: 'V-Net n_filters' },
    iters: { type: 'string', default: '10', arg: 'N', help: 'timed steps' },
    warmup: { type: 'string', default: '2', arg: 'N', help: 'untimed steps first' },
    tune: { type: 'boolean', help: "then tune the step's conv3d problems and time it again" },
    'tune-reps': { type: 'string', default: '5', arg: 'N', help: 'timed runs per tuning candidate' },
    'submit-every': { type: 'string', arg: 'N,…', help: "dispatches per queue submit for the throughput runs (default: the runtime's)" },
    json: { type: 'string', arg: 'FILE', help: 'also write the results as JSON' },
  },
});
const batch = args.int('batch');
const patch = args.triple('patch');
const filters = args.int('filters');
const iters = args.int('iters');
const tuneReps = args.int('tune-reps');
const warmup = args.int('warmup', 0);
const submitEvery = args.ints('submit-every');
const json = args.string('json');

/** Counts calls of the backend's operations (allocation and transfers excluded). */
function countCalls(backend: Backend): { calls: number } {
  const counter = { calls: 0 };
  const skip = new Set(['alloc', 'free', 'upload', 'read', 'memory', 'peakMemory', 'resetPeakMemory', 'sync', 'dispose']);
  const target = backend as unknown as Record<string, unknown>;
  const names = new Set<string>([...Object.keys(target), ...Object.getOwnPropertyNames(Object.getPrototypeOf(target))]);
  for (const name of names) {
    const fn = target[name];
    if (name === 'constructor' || skip.has(name) || typeof fn !== 'function') continue;
    target[name] = (...a: unknown[]) => { counter.calls++; return (fn as (...x: unknown[]) => unknown).apply(backend, a); };
  }
  return counter;
}


/** Records each conv's FLOPs (PyTorch's flop counter convention) during one forward. */
function recordConvFlops(model: VNet): { restore: () => void; flops: () => number } {
  let total = 0;
  const restores: (() => void)[] = [];
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof Conv3d) && !(m instanceof ConvTranspose3d)) continue;
    const original = m.forward.bind(m);
    const transposed = m instanceof ConvTranspose3d;
    m.forward = (x: Tensor) => {
      const y = original(x);
      const w = m.weight.numel();
      const spatial = (transposed ? x.shape : y.shape).slice(2).reduce((a, b) => a * b, 1);
      const f = 2 * x.shape[0] * w * spatial;
      total += f + (x.requiresGrad ? 2 * f : f); // forward, then grad input (if needed) + grad weight
      return y;
    };
    restores.push(() => { m.forward = original; });
  }
  return { restore: () => { for (const r of restores) r(); }, flops: () => total };
}

async function main(): Promise<void> {
  const backend = await initBackend({ backend: args.backend(), report: (l) => console.log(l) });
  const counter = countCalls(backend);
  const gpu = backend instanceof WebGPUBackend ? backend : null;
  const model = new VNet({
    nFilters: filters, seed: 0, normalization: 'batchnorm',
    heads: [{ name: 'out_conv', channels: 2 }, { name: 'out_conv2', channels: 2, activation: 'tanh' }],
  });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const [D, H, W] = patch;
  const x = randn([batch, 1, D, H, W], 1);
  const labels = new Int32Array(batch * D * H * W);
  for (let i = 0; i < labels.length; i++) labels[i] = ((Math.imul(i + 1, 2654435761) >>> 0) & 1);
  const y = fromArray(labels, [batch, D, H, W]);
  const sdfTarget = uniform([batch, 2, D, H, W], -1, 1, 2);
  console.log(`vnet-step: batch ${batch}, patch ${patch.join('×')}, n_filters ${filters}, ${model.numParameters().toLocaleString('en-US')} parameters, on ${backend.description}`);

  const step = () => {
    tidy(() => {
      const out = model.forward(x);
      backward(add(crossEntropy(out.out_conv, y), mseLoss(out.out_conv2, sdfTarget)));
    });
    opt.step();
    opt.zeroGrad();
  };

  const flopRecorder = recordConvFlops(model);
  const times: number[] = [];
  const dispatches: number[] = [];
  const calls: number[] = [];
  let flops = 0;
  for (let i = 0; i < warmup + iters; i++) {
    const d0 = gpu ? gpu.rt.dispatchCount : 0, c0 = counter.calls;
    const t0 = performance.now();
    step();
    await backend.sync();
    const ms = performance.now() - t0;
    if (i === 0) { flops = flopRecorder.flops(); flopRecorder.restore(); }
    if (i >= warmup || warmup === 0) {
      times.push(ms);
      dispatches.push(gpu ? gpu.rt.dispatchCount - d0 : 0);
      calls.push(counter.calls - c0);
    }
    if (i === warmup - 1 || (warmup === 0 && i === 0)) console.log(`  warmup done (${ms.toFixed(0)} ms for the last warmup step)`);
  }
  const med = median(times);
  const live = memory(backend);
  const peaks = memoryPeaks(backend);
  const result = {
    backend: backend.name, device: backend.description, batch, patch, nFilters: filters,
    parameters: model.numParameters(), iters: times.length, warmup,
    medianMs: med, minMs: Math.min(...times), maxMs: Math.max(...times),
    peakAllocatedBytes: peaks.allocatedBytes, peakLiveBytes: peaks.liveBytes, peakReservedBytes: peaks.reservedBytes, liveBytesAfter: live.liveBytes, pooledBytesAfter: live.pooledBytes,
    dispatchesPerStep: gpu ? median(dispatches) : null, backendCallsPerStep: median(calls),
    flopsPerStep: flops, achievedTflops: flops / (med / 1000) / 1e12,
  };
  console.log(`  median step ${med.toFixed(1)} ms (min ${result.minMs.toFixed(1)}, max ${result.maxMs.toFixed(1)}, ${times.length} steps)`);
  console.log(`  peak memory ${(peaks.allocatedBytes / 2 ** 20).toFixed(1)} MiB allocated by tensors (as max_memory_allocated), ${(peaks.liveBytes / 2 ** 20).toFixed(1)} MiB in their buffers, ${(peaks.reservedBytes / 2 ** 20).toFixed(1)} MiB reserved (+ the pool)`);
  console.log(`  ${gpu ? `${result.dispatchesPerStep} dispatches, ` : ''}${result.backendCallsPerStep} backend operation calls per step`);
  console.log(`  PyTorch-equivalent ${(flops / 1e9).toFixed(2)} GFLOP per step → ${(result.achievedTflops * 1000).toFixed(2)} GFLOP/s`);
  // GPU time per kernel over one more step (top 15), where the adapter has timestamp queries
  const profile = await profileKernels(backend, step).catch((e: Error) => { console.log(`  (no kernel profile: ${e.message})`); return null; });
  if (profile) printProfile(profile);
  const throughput = await throughputBySubmitInterval(backend, step, iters, submitEvery);
  // written now and again after tuning, so that a tuning cut short by a time limit keeps the default numbers
  if (json) writeFileSync(json, `${JSON.stringify({ ...result, profile, throughput }, null, 2)}\n`);
  let tuned = null;
  if (args.flag('tune')) {
    const choice = await tuneStepConvolutions(backend, step, tuneReps);
    const tunedTimes: number[] = [];
    for (let i = 0; i <= iters; i++) {
      const t0 = performance.now();
      step();
      await backend.sync();
      if (i > 0) tunedTimes.push(performance.now() - t0); // the first step compiles what the choices added
    }
    const tunedMs = median(tunedTimes);
    console.log(`  median step with the tuned kernels ${tunedMs.toFixed(1)} ms (default kernels ${med.toFixed(1)} ms: ${(med / tunedMs).toFixed(2)}× faster)`);
    const tunedThroughput = await throughputBySubmitInterval(backend, step, iters);
    const tunedProfile = await profileKernels(backend, step).catch(() => null);
    if (tunedProfile) printProfile(tunedProfile);
    tuned = { ...choice, medianMs: tunedMs, times: tunedTimes, throughput: tunedThroughput, profile: tunedProfile };
  }
  if (json && tuned) writeFileSync(json, `${JSON.stringify({ ...result, profile, throughput, tuned }, null, 2)}\n`);
  dispose([x, y, sdfTarget]);
  opt.dispose();
  model.dispose();
  backend.dispose();
}

await main();
