import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Shape3, Volume } from '../../src/imaging/volume.js';
import {
  gaussianImportanceMap, labelFromProbability, predictLabel, slidingWindow, windowGrid, windowStarts, type BlendMode, type WindowPredictor,
} from '../../src/imaging/sliding-window.js';
import type { Storage, TypedArray } from '../../src/kernels/backend.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { add, addScalar, cast, concat, detach, mul, mulScalar, reshape, sigmoid, slice } from '../../src/autograd/ops.js';
import { fromArray, full } from '../../src/tensor/creation.js';
import { keep, liveTensorCount } from '../../src/tensor/memory.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { Backend } from '../../src/kernels/backend.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';
import { idx } from '../helpers/volumes.js';

/** Image values k/8 for small integers k: sums and divisions by the window count stay exact in float32. */
function dyadicVolume(shape: Shape3, seed: number): Volume {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s >>> 16) % 64) / 8 - 2;
  }
  return { data, shape };
}

/** A predictor that returns each window's own input: the averaged map must equal the image. */
const identity: WindowPredictor = (windows) => windows;

/** Every window predicts `value` everywhere. */
const constant = (value: number): WindowPredictor => (windows) => full(windows.shape, value, { backend: windows.backend });

/** A cpu backend that counts readbacks and syncs. */
class CountingCpuBackend extends CpuBackend {
  reads = 0;
  syncs = 0;
  override async read(s: Storage): Promise<TypedArray> { this.reads++; return super.read(s); }
  override async sync(): Promise<void> { this.syncs++; return super.sync(); }
}

/** Channel c of the multi-channel tests: σ((c + 1)·x − c/4), not dyadic, so the float32 sums depend on their order. */
const channelPredictor = (c: number): WindowPredictor => (windows) => sigmoid(addScalar(mulScalar(windows, c + 1), -c / 4));

/** Channels 0 … C − 1 of channelPredictor in one prediction [n, C, P0, P1, P2]. */
const channelsPredictor = (channels: number): WindowPredictor => (windows) =>
  concat(Array.from({ length: channels }, (_, c) => channelPredictor(c)(windows)), 1);

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** One C-channel pass equals C one-channel passes bit for bit, channel by channel, and leaks nothing. */
async function expectChannelsEqualSingleRuns(
  backend: Backend, img: Volume, channels: number, opts: { patch: Shape3; stride: Shape3; batchSize: number; mode: BlendMode },
): Promise<void> {
  const live = liveTensorCount(), bytes = backend.memory().liveBytes;
  const all = await slidingWindow(img, channelsPredictor(channels), { ...opts, backend, channels });
  const n = img.data.length;
  expect(all.shape).toEqual([channels, ...img.shape]);
  expect(all.data.length).toBe(channels * n);
  for (let c = 0; c < channels; c++) {
    const one = await slidingWindow(img, channelPredictor(c), { ...opts, backend });
    expect(bits(all.data.subarray(c * n, (c + 1) * n))).toEqual(bits(one.data));
  }
  expect(liveTensorCount()).toBe(live);
  expect(backend.memory().liveBytes).toBe(bytes);
}

/**
 * Window k predicts value(k) everywhere (the predictor is called in visiting order); the large values make the
 * float32 sums depend on the order they are added in: each voxel must be the float32 sum in DTC's window order
 * divided by its window count, with progress after each batch.
 */
async function expectSumsInDtcOrder(backend: Backend, batchSize: number): Promise<void> {
  const shape: Shape3 = [9, 7, 5], patch: Shape3 = [4, 4, 3], stride: Shape3 = [2, 2, 1];
  const g = windowGrid(shape, patch, stride);
  const origins: Shape3[] = [];
  for (const x of g.starts[0]) for (const y of g.starts[1]) for (const z of g.starts[2]) origins.push([x, y, z]);
  const value = (k: number) => (k % 3 === 0 ? 2 ** 24 : 1 + (k % 8) / 8);
  let seen = 0;
  const calls: [number, number][] = [];
  const pred: WindowPredictor = (windows) => {
    const n = windows.shape[0]!, P = windows.numel() / n;
    const out = new Float32Array(n * P);
    for (let k = 0; k < n; k++) out.fill(value(seen + k), k * P, (k + 1) * P);
    seen += n;
    return fromArray(out, windows.shape, { backend: windows.backend });
  };
  const prob = await slidingWindow(dyadicVolume(shape, 3), pred, {
    backend, patch, stride, batchSize, onProgress: (d, t) => calls.push([d, t]),
  });
  expect(seen).toBe(g.count);
  let orderMatters = false;
  for (let x = 0; x < 9; x++) for (let y = 0; y < 7; y++) for (let z = 0; z < 5; z++) {
    const cover = origins.map((o, k) => [o, k] as const).filter(([o]) =>
      x >= o[0] && x < o[0] + 4 && y >= o[1] && y < o[1] + 4 && z >= o[2] && z < o[2] + 3).map(([, k]) => k);
    const sum = cover.reduce((s, k) => Math.fround(s + value(k)), 0);
    orderMatters ||= sum !== [...cover].reverse().reduce((s, k) => Math.fround(s + value(k)), 0);
    expect(prob.data[idx(shape, x, y, z)]).toBe(Math.fround(sum / cover.length));
  }
  expect(orderMatters).toBe(true);
  const batches = Math.ceil(g.count / batchSize);
  expect(calls).toEqual([[0, g.count], ...Array.from({ length: batches }, (_, b) => [Math.min(batchSize * (b + 1), g.count), g.count])]);
}

const identityProperty = (shapeMax: Shape3, patchMax: Shape3) => fc.tuple(
  fc.tuple(fc.integer({ min: 1, max: shapeMax[0] }), fc.integer({ min: 1, max: shapeMax[1] }), fc.integer({ min: 1, max: shapeMax[2] })),
  fc.tuple(fc.integer({ min: 1, max: patchMax[0] }), fc.integer({ min: 1, max: patchMax[1] }), fc.integer({ min: 1, max: patchMax[2] })),
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  fc.integer({ min: 1, max: 5 }),
).map(([shape, patch, stride0, batchSize]) => ({
  shape, patch, batchSize,
  stride: [Math.min(stride0[0], patch[0]), Math.min(stride0[1], patch[1]), Math.min(stride0[2], patch[2])] as Shape3,
}));

const blendModeArb = fc.constantFrom<BlendMode>('constant', 'gaussian');

describe('window grid', () => {
  it('LA: patch 112×112×80, strides 18, 18, 4 on a 150×140×88 volume', () => {
    const g = windowGrid([150, 140, 88], [112, 112, 80], [18, 18, 4]);
    // ⌈(150−112)/18⌉+1 = 4, ⌈(140−112)/18⌉+1 = 3, ⌈(88−80)/4⌉+1 = 3
    expect(g.starts).toEqual([[0, 18, 36, 38], [0, 18, 28], [0, 4, 8]]);
    expect(g.count).toBe(36);
    expect(g.padded).toEqual([150, 140, 88]);
  });

  it('pads a small side evenly (extra voxel after) and a side equal to the patch gives one window', () => {
    const g = windowGrid([5, 6, 80], [8, 6, 80], [2, 2, 4]);
    expect(g.padBefore).toEqual([1, 0, 0]);
    expect(g.padAfter).toEqual([2, 0, 0]);
    expect(g.padded).toEqual([8, 6, 80]);
    expect(g.count).toBe(1);
    expect(windowStarts(10, 4, 3)).toEqual([0, 3, 6]);
    expect(windowStarts(11, 4, 3)).toEqual([0, 3, 6, 7]);
    expect(() => windowGrid([10, 10, 10], [4, 4, 4], [5, 1, 1])).toThrow(/stride/);
  });
});

describe('slidingWindow (cpu backend)', () => {
  it('a constant predictor gives a constant map', async () => {
    const img = dyadicVolume([13, 11, 9], 1);
    const prob = await slidingWindow(img, constant(0.25), { backend: cpu, patch: [6, 5, 4], stride: [3, 2, 2] });
    expect(prob.shape).toEqual([13, 11, 9]);
    expect(prob.data.every((v) => v === 0.25)).toBe(true);
    const p2 = await slidingWindow(img, constant(0.3), { backend: cpu, patch: [6, 5, 4], stride: [3, 2, 2], batchSize: 4 });
    expect(p2.data.every((v) => Math.abs(v - 0.3) < 1e-6)).toBe(true);
  });

  it('an identity predictor reproduces the input exactly (random shapes, strides, batch sizes), leaking no tensor', async () => {
    await fc.assert(
      fc.asyncProperty(identityProperty([12, 12, 9], [8, 8, 6]), async ({ shape, patch, stride, batchSize }) => {
        const img = dyadicVolume(shape, shape[0] * 131 + patch[1]);
        const live = liveTensorCount(), buffers = cpu.memory().liveBuffers;
        const prob = await slidingWindow(img, identity, { backend: cpu, patch, stride, batchSize });
        expect(prob.shape).toEqual(shape);
        expect(Array.from(prob.data)).toEqual(Array.from(img.data));
        expect(liveTensorCount()).toBe(live);
        expect(cpu.memory().liveBuffers).toBe(buffers);
      }),
      { numRuns: 120 },
    );
  });

  it('uses the current backend when none is given', async () => {
    const img = dyadicVolume([7, 6, 5], 4);
    const prob = await slidingWindow(img, identity, { patch: [4, 4, 4], stride: [2, 2, 1] });
    expect(Array.from(prob.data)).toEqual(Array.from(img.data));
  });

  it('averages over exactly the windows covering each voxel, summed in float32 in DTC order, with progress', async () => {
    await expectSumsInDtcOrder(cpu, 4);
  });

  it('pads a volume smaller than the patch with zeros and un-pads the result', async () => {
    const shape: Shape3 = [5, 4, 3], patch: Shape3 = [8, 6, 4];
    const img = dyadicVolume(shape, 7);
    let got: Tensor | null = null;
    const pred: WindowPredictor = (windows) => { got = keep(detach(windows)); return windows; };
    const prob = await slidingWindow(img, pred, { backend: cpu, patch, stride: [2, 2, 2] });
    expect(Array.from(prob.data)).toEqual(Array.from(img.data));
    const window = got as Tensor | null;
    if (!window) throw new Error('the predictor was not called');
    expect(window.shape).toEqual([1, 1, 8, 6, 4]);
    const w = await window.toArray();
    window.dispose();
    // pads: x 3 → (1, 2), y 2 → (1, 1), z 1 → (0, 1)
    let nonPad = 0;
    for (let x = 0; x < 8; x++) for (let y = 0; y < 6; y++) for (let z = 0; z < 4; z++) {
      const inside = x >= 1 && x < 6 && y >= 1 && y < 5 && z < 3;
      const v = w[idx(patch, x, y, z)]!;
      if (inside) { expect(v).toBe(img.data[idx(shape, x - 1, y - 1, z)]); nonPad++; } else expect(v).toBe(0);
    }
    expect(nonPad).toBe(60);
  });

  it('reads back once per volume and never syncs, however many windows', async () => {
    const counting = new CountingCpuBackend();
    const img = dyadicVolume([10, 9, 8], 6);
    const g = windowGrid(img.shape, [4, 4, 4], [2, 2, 1]);
    expect(g.count).toBeGreaterThan(50);
    const prob = await slidingWindow(img, (w) => sigmoid(w), { backend: counting, patch: [4, 4, 4], stride: [2, 2, 1], batchSize: 3 });
    expect(counting.reads).toBe(1);
    expect(counting.syncs).toBe(0);
    await slidingWindow(img, identity, { backend: counting, patch: [4, 4, 4], stride: [2, 2, 1] });
    expect(counting.reads).toBe(2);
    // every window sees the same σ(x) at a voxel, so the average is σ(x) up to float32 rounding
    for (let i = 0; i < img.data.length; i++) expect(prob.data[i]).toBeCloseTo(1 / (1 + Math.exp(-img.data[i]!)), 6);
    expect(counting.memory().liveBuffers).toBe(0);
  });

  it('rejects a prediction of the wrong shape, naming the expected and the actual shape, and frees everything', async () => {
    const img = dyadicVolume([6, 6, 6], 1);
    const opts = { backend: cpu, patch: [4, 4, 4] as Shape3, stride: [2, 2, 2] as Shape3 };
    const live = liveTensorCount(), buffers = cpu.memory().liveBuffers;
    // without the channel axis
    await expect(slidingWindow(img, (w) => reshape(w, [w.shape[0]!, 4, 4, 4]), opts))
      .rejects.toThrow('the predictor returned [1, 4, 4, 4] for 1 window(s), expected [1, 1, 4, 4, 4]');
    // a fixed batch of 3 when the last batch of the 8 windows holds 2
    await expect(slidingWindow(img, (w) => full([3, 1, 4, 4, 4], 0.5, { backend: w.backend }), { ...opts, batchSize: 3 }))
      .rejects.toThrow('the predictor returned [3, 1, 4, 4, 4] for 2 window(s), expected [2, 1, 4, 4, 4]');
    // the old host-array predictor
    const asyncPredictor = (async () => new Float32Array(64)) as unknown as WindowPredictor;
    await expect(slidingWindow(img, asyncPredictor, opts)).rejects.toThrow(/must return a Tensor \[1, 1, 4, 4, 4\] synchronously, got a Promise/);
    // a tensor on another backend
    await expect(slidingWindow(img, (w) => full(w.shape, 0.5, { backend: new CpuBackend() }), opts)).rejects.toThrow(/on the cpu backend, but the windows live/);
    // int32 values (cast, say, from thresholded probabilities): the sums are float32
    await expect(slidingWindow(img, (w) => cast(w, 'int32'), opts)).rejects.toThrow('slidingWindow: the predictor returned int32 values, expected float32');
    // a predictor that fails in its third call, after creating tensors
    let calls = 0;
    await expect(slidingWindow(img, (w) => {
      sigmoid(w);
      if (++calls === 3) throw new Error('model failed in window 2');
      return w;
    }, opts)).rejects.toThrow('model failed in window 2');
    expect(calls).toBe(3);
    expect(liveTensorCount()).toBe(live);
    expect(cpu.memory().liveBuffers).toBe(buffers);
  });

  it('C channels in one pass equal C one-channel passes bit for bit (random shapes, strides, batch sizes, C, both modes)', async () => {
    await fc.assert(
      fc.asyncProperty(identityProperty([10, 9, 8], [6, 6, 5]), fc.integer({ min: 1, max: 3 }), blendModeArb, async ({ shape, patch, stride, batchSize }, channels, mode) => {
        const img = dyadicVolume(shape, shape[1] * 37 + patch[0]);
        await expectChannelsEqualSingleRuns(cpu, img, channels, { patch, stride, batchSize, mode });
      }),
      { numRuns: 60 },
    );
  });

  it('C channels: one prediction per batch of windows, one readback, no sync', async () => {
    const counting = new CountingCpuBackend();
    const img = dyadicVolume([9, 8, 7], 2);
    const g = windowGrid(img.shape, [4, 4, 4], [2, 2, 1]);
    let predictions = 0;
    const probs = await slidingWindow(img, (w) => { predictions++; return channelsPredictor(3)(w); },
      { backend: counting, patch: [4, 4, 4], stride: [2, 2, 1], batchSize: 3, channels: 3 });
    expect(probs.shape).toEqual([3, 9, 8, 7]);
    expect(predictions).toBe(Math.ceil(g.count / 3));
    expect(counting.reads).toBe(1);
    expect(counting.syncs).toBe(0);
    expect(counting.memory().liveBuffers).toBe(0);
  });

  it('C channels: rejects a prediction of the wrong channels, size or batch, naming the shapes, and frees everything', async () => {
    const img = dyadicVolume([6, 6, 6], 1);
    const oneChannel = { backend: cpu, patch: [4, 4, 4] as Shape3, stride: [2, 2, 2] as Shape3 };
    const opts = { ...oneChannel, channels: 3 };
    const live = liveTensorCount(), buffers = cpu.memory().liveBuffers;
    await expect(slidingWindow(img, channelsPredictor(2), opts))
      .rejects.toThrow('the predictor returned [1, 2, 4, 4, 4] for 1 window(s), expected [1, 3, 4, 4, 4] (channels: 3)');
    await expect(slidingWindow(img, (w) => channelsPredictor(3)(slice(w, 4, 0, 3)), opts))
      .rejects.toThrow('the predictor returned [1, 3, 4, 4, 3] for 1 window(s), expected [1, 3, 4, 4, 4] (channels: 3)');
    await expect(slidingWindow(img, (w) => full([3, 3, 4, 4, 4], 0.5, { backend: w.backend }), { ...opts, batchSize: 3 }))
      .rejects.toThrow('the predictor returned [3, 3, 4, 4, 4] for 2 window(s), expected [2, 3, 4, 4, 4] (channels: 3)');
    // a multi-channel predictor without the option
    await expect(slidingWindow(img, channelsPredictor(3), oneChannel))
      .rejects.toThrow('the predictor returned [1, 3, 4, 4, 4] for 1 window(s), expected [1, 1, 4, 4, 4]; pass the option channels: 3 for a predictor of 3 channels');
    for (const channels of [0, 1.5]) {
      await expect(slidingWindow(img, channelsPredictor(1), { ...opts, channels })).rejects.toThrow(`bad channels ${channels}`);
    }
    expect(liveTensorCount()).toBe(live);
    expect(cpu.memory().liveBuffers).toBe(buffers);
  });

  it("overlap instead of stride: MONAI's scan interval max(1, ⌊P·(1 − overlap)⌋) and its windows (default 0.25)", async () => {
    const img = dyadicVolume([12, 10, 7], 5);
    // MONAI's dense_patch_slices: the first d with d·interval + P ≥ S, plus one, windows per axis
    const monaiWindows = (size: number, patch: number, overlap: number) => {
      const interval = Math.max(1, Math.floor(patch * (1 - overlap)));
      let d = 0;
      while (d * interval + patch < size) d++;
      return d + 1;
    };
    const windows = async (opts: { overlap?: number; stride?: Shape3 }) => {
      let total = 0;
      const prob = await slidingWindow(img, constant(0.5), { backend: cpu, patch: [8, 6, 4], ...opts, onProgress: (_, n) => { total = n; } });
      expect(Array.from(new Set(prob.data))).toEqual([0.5]);
      return total;
    };
    for (const overlap of [0, 0.25, 0.5, 0.9]) {
      expect(await windows({ overlap }), `overlap ${overlap}`).toBe(monaiWindows(12, 8, overlap) * monaiWindows(10, 6, overlap) * monaiWindows(7, 4, overlap));
    }
    expect(await windows({})).toBe(await windows({ overlap: 0.25 }));
    expect(await windows({ overlap: 0.5 })).toBe(await windows({ stride: [4, 3, 2] }));
    await expect(slidingWindow(img, identity, { backend: cpu, patch: [8, 6, 4], stride: [4, 3, 2], overlap: 0.5 }))
      .rejects.toThrow(/^slidingWindow: give stride or overlap, not both \(stride \[4, 3, 2\], overlap 0.5\)$/);
    await expect(slidingWindow(img, identity, { backend: cpu, patch: [8, 6, 4], overlap: 1 })).rejects.toThrow(/^slidingWindow: overlap must be in \[0, 1\), got 1$/);
  });

  it('rejects bad batch sizes and a data length that does not match the shape', async () => {
    const img = dyadicVolume([4, 4, 4], 1);
    await expect(slidingWindow(img, identity, { backend: cpu, patch: [4, 4, 4], stride: [1, 1, 1], batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(slidingWindow({ data: img.data, shape: [4, 4, 5] }, identity, { backend: cpu, patch: [4, 4, 4], stride: [1, 1, 1] }))
      .rejects.toThrow(/data length 64 does not match shape \[4, 4, 5\]/);
    // MONAI's habit of a [1, 1, X, Y, Z] tensor, or a shape of another rank, is named
    const tensor = fromArray(img.data, [1, 1, 4, 4, 4], { backend: cpu });
    await expect(slidingWindow(tensor as never, identity, { backend: cpu, patch: [4, 4, 4], stride: [1, 1, 1] }))
      .rejects.toThrow(/^slidingWindow: image must be a host volume \{ data, shape: \[X, Y, Z\] \} or channels first \{ data, shape: \[C, X, Y, Z\] \}, got a Tensor \[1, 1, 4, 4, 4\]; pass \{ data: await x.toArray\(\), shape \}$/);
    await expect(slidingWindow({ data: img.data, shape: [1, 1, 4, 4, 4] } as never, identity, { backend: cpu, patch: [4, 4, 4], stride: [1, 1, 1] }))
      .rejects.toThrow(/^slidingWindow: image must be a host volume \{ data, shape: \[X, Y, Z\] \} or channels first \{ data, shape: \[C, X, Y, Z\] \}, got shape \[1, 1, 4, 4, 4\]; a batch \[B, C, X, Y, Z\] is an array of B images \[C, X, Y, Z\]$/);
    tensor.dispose();
  });
});

describe('slidingWindow (webgpu backend)', () => {
  it('an identity predictor reproduces the input exactly, leaking no tensor or buffer', async () => {
    const gpu = await webgpu();
    await fc.assert(
      fc.asyncProperty(identityProperty([9, 8, 7], [6, 5, 4]), async ({ shape, patch, stride, batchSize }) => {
        const img = dyadicVolume(shape, shape[0] * 17 + patch[2]);
        const live = liveTensorCount(), bytes = gpu.memory().liveBytes;
        const prob = await slidingWindow(img, identity, { backend: gpu, patch, stride, batchSize });
        expect(Array.from(prob.data)).toEqual(Array.from(img.data));
        expect(liveTensorCount()).toBe(live);
        expect(gpu.memory().liveBytes).toBe(bytes);
      }),
      { numRuns: 6, seed: 11 },
    );
  });
  it('sums in float32 in DTC order, bit for bit, whatever the window batch (runs of windows cut in one copy, added in place)', async () => {
    const gpu = await webgpu();
    for (const batchSize of [1, 2, 3, 4, 7]) await expectSumsInDtcOrder(gpu, batchSize);
  });

  it('C channels in one pass equal C one-channel passes bit for bit, both modes', async () => {
    const gpu = await webgpu();
    await fc.assert(
      fc.asyncProperty(identityProperty([7, 6, 5], [5, 4, 4]), fc.integer({ min: 2, max: 3 }), blendModeArb, async ({ shape, patch, stride, batchSize }, channels, mode) => {
        await expectChannelsEqualSingleRuns(gpu, dyadicVolume(shape, shape[2] * 29 + patch[1]), channels, { patch, stride, batchSize, mode });
      }),
      { numRuns: 6, seed: 5 },
    );
  });
});

/** A per-window bias that varies inside the window (float32 values), so that how windows are weighted matters. */
const positionBias = (c: number, i: number, j: number, k: number): number => Math.fround(Math.sin(1 + 7 * c + 3 * i + 5 * j + 11 * k));

/** Channel c at in-window position (i, j, k) predicts (c + 1)·x + positionBias(c, i, j, k). */
const positionalPredictor = (channels: number, patch: Shape3): WindowPredictor => (windows) => {
  const bias = new Float32Array(channels * patch[0] * patch[1] * patch[2]);
  for (let c = 0; c < channels; c++) for (let i = 0; i < patch[0]; i++) for (let j = 0; j < patch[1]; j++) for (let k = 0; k < patch[2]; k++) {
    bias[((c * patch[0] + i) * patch[1] + j) * patch[2] + k] = positionBias(c, i, j, k);
  }
  const scales = fromArray(Array.from({ length: channels }, (_, c) => c + 1), [1, channels, 1, 1, 1], { backend: windows.backend });
  return add(mul(windows, scales), fromArray(bias, [1, channels, ...patch], { backend: windows.backend }));
};

/**
 * MONAI's Gaussian importance at in-window position `at`, from its definition in float64: the product over the
 * axes of exp(−d²/(2σ²)), d = position − (P − 1)/2, σ = sigmaScale·P, then at least 1e-3.
 */
function importanceReference(patch: Shape3, sigmaScale: Shape3, at: Shape3): number {
  let w = 1;
  for (let a = 0; a < 3; a++) {
    const sigma = sigmaScale[a] * patch[a], d = at[a] - (patch[a] - 1) / 2;
    w *= Math.exp(-(d * d) / (2 * sigma * sigma));
  }
  return Math.max(w, 1e-3);
}

/** The Gaussian blend of positionalPredictor in float64 with plain loops: Σ w·prediction / Σ w over the windows covering each voxel. */
function gaussianBlendReference(img: Volume, channels: number, patch: Shape3, stride: Shape3, sigmaScale: Shape3): Float64Array {
  const [X, Y, Z] = img.shape;
  const g = windowGrid(img.shape, patch, stride);
  const n = X * Y * Z;
  const weighted = new Float64Array(channels * n), weights = new Float64Array(n);
  for (const ox of g.starts[0]) for (const oy of g.starts[1]) for (const oz of g.starts[2]) {
    for (let i = 0; i < patch[0]; i++) for (let j = 0; j < patch[1]; j++) for (let k = 0; k < patch[2]; k++) {
      // the voxel in the image (the padding's voxels are dropped at the end)
      const x = ox + i - g.padBefore[0], y = oy + j - g.padBefore[1], z = oz + k - g.padBefore[2];
      if (x < 0 || x >= X || y < 0 || y >= Y || z < 0 || z >= Z) continue;
      const v = idx(img.shape, x, y, z), w = importanceReference(patch, sigmaScale, [i, j, k]);
      weights[v] += w;
      for (let c = 0; c < channels; c++) weighted[c * n + v] += w * ((c + 1) * img.data[v]! + positionBias(c, i, j, k));
    }
  }
  return weighted.map((s, i) => s / weights[i % n]!);
}

const sigmaScaleArb = fc.oneof(
  fc.constant(undefined),
  fc.double({ min: 0.05, max: 1, noNaN: true }),
  fc.tuple(fc.double({ min: 0.05, max: 1, noNaN: true }), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.double({ min: 0.05, max: 1, noNaN: true })),
);
const sigmaTuple = (s: number | Shape3 | undefined): Shape3 => (s === undefined ? [0.125, 0.125, 0.125] : typeof s === 'number' ? [s, s, s] : s);

/** slidingWindow with mode 'gaussian' against gaussianBlendReference, with and without the channels option. */
async function expectGaussianBlend(
  backend: Backend, img: Volume, channels: number | undefined,
  opts: { patch: Shape3; stride: Shape3; batchSize: number; sigmaScale: number | Shape3 | undefined }, atol: number, rtol: number,
): Promise<void> {
  const live = liveTensorCount(), bytes = backend.memory().liveBytes;
  const predict = positionalPredictor(channels ?? 1, opts.patch);
  const got = channels === undefined
    ? await slidingWindow(img, predict, { ...opts, backend, mode: 'gaussian' })
    : await slidingWindow(img, predict, { ...opts, backend, mode: 'gaussian', channels });
  expect(got.shape).toEqual(channels === undefined ? img.shape : [channels, ...img.shape]);
  expectClose(got.data, gaussianBlendReference(img, channels ?? 1, opts.patch, opts.stride, sigmaTuple(opts.sigmaScale)), atol, rtol, 'gaussian blend');
  expect(liveTensorCount()).toBe(live);
  expect(backend.memory().liveBytes).toBe(bytes);
}

describe("slidingWindow mode 'gaussian'", () => {
  it('importance weights: golden values by hand (MONAI: exp(−d²/(2σ²)), σ = sigmaScale·P, no rescaling, at least 1e-3)', async () => {
    const read = async (patch: Shape3, sigmaScale?: number | Shape3) => {
      const map = gaussianImportanceMap(patch, sigmaScale, cpu);
      expect(map.shape).toEqual(patch);
      const values = Array.from(await map.toArray());
      map.dispose();
      return values;
    };
    const f = Math.fround;
    // patch 5, sigma_scale 0.125: σ = 0.625, 2σ² = 0.78125, d = −2 … 2: exp(−4/0.78125) = exp(−5.12), exp(−1/0.78125) = exp(−1.28)
    const p5 = [f(Math.exp(-5.12)), f(Math.exp(-1.28)), 1, f(Math.exp(-1.28)), f(Math.exp(-5.12))];
    expect(p5[0]).toBeCloseTo(0.0059760, 7);
    expect(p5[1]).toBeCloseTo(0.2780373, 7);
    expect(await read([5, 1, 1])).toEqual(p5);
    expect(await read([1, 1, 5], 0.125)).toEqual(p5);
    // patch 4: σ = 0.5, 2σ² = 0.5, d = ±1.5, ±0.5: exp(−4.5), exp(−0.5); the maximum of an even side is below 1
    expect(await read([1, 4, 1])).toEqual([f(Math.exp(-4.5)), f(Math.exp(-0.5)), f(Math.exp(-0.5)), f(Math.exp(-4.5))]);
    // one σ per axis: sigma_scale 0.25 along x gives σ = 1.25, 2σ² = 3.125: exp(−4/3.125) = exp(−1.28), exp(−1/3.125) = exp(−0.32)
    const perAxis = await read([5, 3, 1], [0.25, 1, 1]);
    // along y: σ = 3, 2σ² = 18, d = ±1: exp(−1/18)
    const y = [f(Math.exp(-1 / 18)), 1, f(Math.exp(-1 / 18))];
    const x = [f(Math.exp(-1.28)), f(Math.exp(-0.32)), 1, f(Math.exp(-0.32)), f(Math.exp(-1.28))];
    expect(perAxis).toEqual(x.flatMap((wx) => y.map((wy) => f(wx * wy))));
    // 5×5×5: the centre is 1, a face centre exp(−5.12); a corner exp(−15.36) ≈ 2.1e-7 and an edge centre
    // exp(−10.24) ≈ 3.6e-5 are raised to 1e-3
    const cube = await read([5, 5, 5]);
    expect(cube[idx([5, 5, 5], 2, 2, 2)]).toBe(1);
    expect(cube[idx([5, 5, 5], 0, 2, 2)]).toBe(p5[0]);
    expect(cube[idx([5, 5, 5], 2, 1, 2)]).toBe(p5[1]);
    expect(cube[idx([5, 5, 5], 0, 0, 0)]).toBe(f(1e-3));
    expect(cube[idx([5, 5, 5], 0, 4, 2)]).toBe(f(1e-3));
    expect(Math.min(...cube)).toBe(f(1e-3));
  });

  it('matches a float64 reference of the weighted blend (random shapes, strides, batch sizes, σ, channels)', async () => {
    await fc.assert(
      fc.asyncProperty(identityProperty([10, 9, 8], [6, 6, 5]), fc.option(fc.integer({ min: 1, max: 3 })), sigmaScaleArb,
        async ({ shape, patch, stride, batchSize }, channels, sigmaScale) => {
          const img = dyadicVolume(shape, shape[2] * 53 + patch[0]);
          await expectGaussianBlend(cpu, img, channels ?? undefined, { patch, stride, batchSize, sigmaScale }, 1e-6, 1e-6);
        }),
      { numRuns: 80 },
    );
  });

  it('a constant predictor gives back the constant: exactly for 0.25, within float32 rounding for 0.3, every channel', async () => {
    const img = dyadicVolume([13, 11, 9], 1);
    const opts = { backend: cpu, patch: [6, 5, 4] as Shape3, stride: [3, 2, 2] as Shape3, mode: 'gaussian' as const };
    // w·0.25 is exact and scaling by a power of two commutes with float32 rounding: Σ w·0.25 / Σ w = 0.25
    const quarter = await slidingWindow(img, constant(0.25), opts);
    expect(quarter.data.every((v) => v === 0.25)).toBe(true);
    const two = await slidingWindow(img, (w) => full([w.shape[0]!, 2, ...opts.patch], 0.3, { backend: w.backend }), { ...opts, channels: 2, batchSize: 3 });
    expect(two.shape).toEqual([2, 13, 11, 9]);
    // at most 12 windows cover a voxel: a few float32 roundings of 0.3 (2^-25 ≈ 3e-8 each)
    expect(two.data.every((v) => Math.abs(v - 0.3) < 5e-7)).toBe(true);
  });

  it('reads back once per volume and never syncs', async () => {
    const counting = new CountingCpuBackend();
    const img = dyadicVolume([9, 8, 7], 2);
    await slidingWindow(img, channelsPredictor(2), { backend: counting, patch: [4, 4, 4], stride: [2, 2, 1], batchSize: 3, channels: 2, mode: 'gaussian' });
    expect(counting.reads).toBe(1);
    expect(counting.syncs).toBe(0);
    expect(counting.memory().liveBuffers).toBe(0);
  });

  it('rejects a bad mode or sigmaScale, naming the option, and frees everything', async () => {
    const img = dyadicVolume([6, 6, 6], 1);
    const opts = { backend: cpu, patch: [4, 4, 4] as Shape3, stride: [2, 2, 2] as Shape3 };
    const live = liveTensorCount(), buffers = cpu.memory().liveBuffers;
    await expect(slidingWindow(img, identity, { ...opts, mode: 'foo' as 'gaussian' })).rejects.toThrow("bad mode 'foo': expected 'constant' or 'gaussian'");
    for (const sigmaScale of [0, -0.125, NaN, Infinity, [0.125, 0, 0.125], [0.125, 0.125]]) {
      await expect(slidingWindow(img, identity, { ...opts, mode: 'gaussian', sigmaScale: sigmaScale as Shape3 }))
        .rejects.toThrow(`bad sigmaScale ${JSON.stringify(sigmaScale)}: expected a positive number or 3 of them`);
    }
    expect(() => gaussianImportanceMap([4, 4, 4], 0, cpu)).toThrow('bad sigmaScale 0');
    expect(() => gaussianImportanceMap([4, 0, 4], 0.125, cpu)).toThrow('bad patch [4, 0, 4]');
    expect(liveTensorCount()).toBe(live);
    expect(cpu.memory().liveBuffers).toBe(buffers);
  });

  it('webgpu: matches the float64 reference within float32 rounding', async () => {
    const gpu = await webgpu();
    await fc.assert(
      fc.asyncProperty(identityProperty([7, 6, 5], [5, 4, 4]), fc.option(fc.integer({ min: 1, max: 3 })), sigmaScaleArb,
        async ({ shape, patch, stride, batchSize }, channels, sigmaScale) => {
          const img = dyadicVolume(shape, shape[1] * 19 + patch[2]);
          await expectGaussianBlend(gpu, img, channels ?? undefined, { patch, stride, batchSize, sigmaScale }, 1e-5, 1e-5);
        }),
      { numRuns: 6, seed: 7 },
    );
  });
});

describe('predictLabel', () => {
  it('thresholds strictly above 0.5 and keeps the largest component when asked', async () => {
    const shape: Shape3 = [8, 8, 8];
    const img: Volume = { data: new Float32Array(512), shape };
    // two blobs of "probability" in the image: 3×3×3 at the origin corner and a single voxel
    for (let x = 0; x < 3; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 3; z++) img.data[idx(shape, x, y, z)] = 0.9;
    img.data[idx(shape, 6, 6, 6)] = 0.8;
    img.data[idx(shape, 6, 0, 0)] = 0.5; // exactly 0.5: background
    const all = await predictLabel(img, identity, { backend: cpu, patch: [4, 4, 4], stride: [2, 2, 2] });
    expect(all.data.reduce((p, v) => p + v, 0)).toBe(28);
    expect(all.data[idx(shape, 6, 0, 0)]).toBe(0);
    const cc = await predictLabel(img, identity, { backend: cpu, patch: [4, 4, 4], stride: [2, 2, 2], largestCC: true });
    expect(cc.data.reduce((p, v) => p + v, 0)).toBe(27);
    expect(cc.data[idx(shape, 6, 6, 6)]).toBe(0);
    expect(labelFromProbability(img, { threshold: 0.85 }).data.reduce((p, v) => p + v, 0)).toBe(27);
  });
});
