import { describe, expect, it } from 'vitest';
import { add, argmax, backward, cast, noGrad, reshape, slice, softmax } from '../../src/autograd/index.js';
import type { Backend, Conv3dParams } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { conv3dPlan } from '../../src/kernels/conv3d/webgpu.js';
import { Adam, VNet } from '../../src/models/index.js';
import { crossEntropy, diceLoss } from '../../src/models/losses.js';
import { dispose, fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';
import { setConvKernels } from '../helpers/gpu-conv.js';

/**
 * Supervised training that learns: a small V-Net (n_filters 4, batch norm) on a synthetic task — a bright
 * ball in Gaussian noise → its mask — with Adam (lr 0.01) and CE + Dice, on the default WebGPU backend.
 *
 * Volumes are 1×16×16×16, not 32³: on llvmpipe a 32³ step costs about 8× more and the test would not fit
 * its ~3-minute budget. The batch is 4 because 16³ reaches a 1³ bottleneck: with batch 2, batch norm there
 * sees 2 values per channel, its output is ±1 whatever the input and its input gradient is analytically 0
 * (numerically roundoff noise, different on each backend), so the cpu replay below could not match.
 * With 4 values per channel the two backends agree to ~1e-4 after the first updates.
 * The cpu backend replays the first steps and must give the same losses.
 */

const S = 16;
const BATCH = 4;
const STEPS = 60;
const CPU_STEPS = 3;
const HELD_OUT = 8;

/** mulberry32: a small deterministic generator for the synthetic data */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A ball of random centre and radius (3.2–5.6 voxels), intensity 1 inside and 0 outside, plus N(0, 0.5²) noise. */
function volume(seed: number): { image: Float32Array; label: Int32Array } {
  const r = generator(seed);
  const n = S ** 3;
  const image = new Float32Array(n), label = new Int32Array(n);
  const c = [0, 1, 2].map(() => S * (0.3 + 0.4 * r()));
  const radius = S * (0.2 + 0.15 * r());
  for (let z = 0; z < S; z++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = (z * S + y) * S + x;
        const inside = Math.hypot(z - c[0], y - c[1], x - c[2]) <= radius ? 1 : 0;
        const noise = 0.5 * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
        label[i] = inside;
        image[i] = inside + noise;
      }
    }
  }
  return { image, label };
}

function batchOf(seeds: number[], backend: Backend): { x: Tensor; y: Tensor; labels: Int32Array } {
  const n = S ** 3;
  const image = new Float32Array(seeds.length * n), labels = new Int32Array(seeds.length * n);
  seeds.forEach((s, k) => {
    const v = volume(s);
    image.set(v.image, k * n);
    labels.set(v.label, k * n);
  });
  return {
    x: fromArray(image, [seeds.length, 1, S, S, S], { backend }),
    y: fromArray(labels, [seeds.length, S, S, S], { backend }),
    labels,
  };
}

function makeModel(backend: Backend): { model: VNet; opt: Adam } {
  const model = new VNet({ nFilters: 4, nClasses: 2, normalization: 'batchnorm', seed: 2024, backend });
  const opt = new Adam(model.parameters(), { lr: 0.01 });
  return { model, opt };
}

/** One step (CE + Dice of the foreground probability); returns the loss tensor (read it or dispose it). */
function trainStep(model: VNet, opt: Adam, iteration: number, backend: Backend): Tensor {
  const { x, y } = batchOf(Array.from({ length: BATCH }, (_, k) => BATCH * iteration + k), backend);
  const loss = tidy(() => {
    const logits = model.forward(x).out_conv;
    const foreground = slice(softmax(logits, 1), 1, 1, 2);
    const target = cast(reshape(y, [BATCH, 1, S, S, S]), 'float32');
    return add(crossEntropy(logits, y), diceLoss(foreground, target));
  });
  backward(loss);
  opt.step();
  opt.zeroGrad();
  dispose([x, y]);
  return loss;
}

async function heldOutDice(model: VNet, backend: Backend): Promise<number> {
  model.eval();
  let total = 0;
  for (let k = 0; k < HELD_OUT; k += 2) {
    const { x, y, labels } = batchOf([100_000 + k, 100_001 + k], backend);
    const pred = noGrad(() => tidy(() => argmax(model.forward(x).out_conv, 1)));
    const p = await pred.toArray();
    for (let b = 0; b < 2; b++) {
      let inter = 0, a = 0, g = 0;
      for (let i = b * S ** 3; i < (b + 1) * S ** 3; i++) { inter += p[i] * labels[i]; a += p[i]; g += labels[i]; }
      total += (2 * inter) / Math.max(a + g, 1);
    }
    dispose([x, y, pred]);
  }
  model.train();
  return total / HELD_OUT;
}

describe('VNet learns (synthetic ball → mask)', () => {
  const gpuLosses: number[] = [];
  const cpuReplay: number[] = [];

  it(`webgpu: ${STEPS} Adam steps reach held-out Dice > 0.9 with flat live buffers`, async () => {
    const backend = await webgpu();
    const { model, opt } = makeModel(backend);
    const t0 = performance.now();
    const initialDice = await heldOutDice(model, backend);
    let before = memory(backend);
    for (let it = 0; it < STEPS; it++) {
      const loss = trainStep(model, opt, it, backend);
      if (it < CPU_STEPS || it % 10 === 9) gpuLosses[it] = await loss.item();
      loss.dispose();
      if (it === 0) { await backend.sync(); before = memory(backend); } // after the momentum buffers exist
    }
    await backend.sync();
    const after = memory(backend);
    const dice = await heldOutDice(model, backend);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`learn: ${STEPS} steps of batch ${BATCH}×1×${S}³ on ${backend.description}: held-out Dice ${initialDice.toFixed(3)} → ${dice.toFixed(3)}, `
      + `losses ${gpuLosses.filter((l) => l !== undefined).map((l) => l.toFixed(3)).join(' ')}, ${seconds.toFixed(1)} s; `
      + `live buffers ${before.liveBuffers} → ${after.liveBuffers}, live tensors ${before.liveTensors} → ${after.liveTensors}`);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(dice).toBeGreaterThan(0.9);
    opt.dispose();
    model.dispose();
  }, 240_000);

  it(`cpu: the first ${CPU_STEPS} steps give the WebGPU run's losses`, async () => {
    expect(gpuLosses.length).toBeGreaterThanOrEqual(CPU_STEPS);
    const { model, opt } = makeModel(cpu);
    const cpuLosses: number[] = [];
    for (let it = 0; it < CPU_STEPS; it++) {
      const loss = trainStep(model, opt, it, cpu);
      cpuLosses.push(await loss.item());
      loss.dispose();
    }
    console.log(`learn: cpu losses ${cpuLosses.map((l) => l.toFixed(6)).join(' ')} vs webgpu ${gpuLosses.slice(0, CPU_STEPS).map((l) => l.toFixed(6)).join(' ')}`);
    cpuLosses.forEach((l, i) => expect(Math.abs(l - gpuLosses[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(l))));
    cpuReplay.push(...cpuLosses);
    opt.dispose();
    model.dispose();
  }, 120_000);

  // llvmpipe keeps the direct and wgrad conv kernels; a GPU runs the implicit GEMMs for the layers with ≥ 16
  // channels (here 16, 32 and 64). The same first steps with a GPU's choice must give the cpu's losses too.
  it(`webgpu with a GPU's conv kernels (implicit GEMMs): the first ${CPU_STEPS} steps give the cpu's losses`, async () => {
    expect(cpuReplay.length).toBe(CPU_STEPS);
    const backend = await webgpu();
    if (!(backend instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const restore = setConvKernels(backend, 'gpu');
    try {
      // block_three's 3³ conv (16 channels at 4³) and block_four's (32 at 2³)
      const p: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
      for (const [x, w] of [[[BATCH, 16, 4, 4, 4], [16, 16, 3, 3, 3]], [[BATCH, 32, 2, 2, 2], [32, 32, 3, 3, 3]]]) {
        expect((['forward', 'backwardInput', 'backwardWeight'] as const).map((op) => conv3dPlan(backend.rt, op, x, w, p).split(':')[0]))
          .toEqual(['implicit GEMM', 'implicit GEMM', 'weight GEMM']);
      }
      const { model, opt } = makeModel(backend);
      const losses: number[] = [];
      for (let it = 0; it < CPU_STEPS; it++) {
        const loss = trainStep(model, opt, it, backend);
        losses.push(await loss.item());
        loss.dispose();
      }
      console.log(`learn: webgpu with the GEMMs ${losses.map((l) => l.toFixed(6)).join(' ')} vs cpu ${cpuReplay.map((l) => l.toFixed(6)).join(' ')}`);
      losses.forEach((l, i) => expect(Math.abs(l - cpuReplay[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(l))));
      opt.dispose();
      model.dispose();
    } finally {
      restore();
    }
  }, 120_000);
});
