import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';
import { slidingWindow, windowGrid, type BlendMode, type SlidingWindowImage, type WindowPredictor } from '../../src/imaging/sliding-window.js';
import type { Backend, Storage, TypedArray } from '../../src/kernels/backend.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { add, addScalar, concat, detach, mulScalar, sigmoid, slice } from '../../src/autograd/ops.js';
import { keep, liveTensorCount } from '../../src/tensor/memory.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { CopyCountingCpuBackend, cpu, expectClose, webgpu } from '../helpers/backends.js';
import { idx } from '../helpers/volumes.js';

/**
 * Multi-channel images [C, X, Y, Z], batches of images (MONAI's B), per-axis overlap and cval. The main property:
 * for a predictor that is a per-voxel linear map of the channels, the window average is that map of the whole image.
 */

/** C channels of values k/8 for small integers k (a linear map with weights k/4 stays exact in float32). */
function dyadicChannels(channels: number, shape: Shape3, seed: number): MultiChannelVolume {
  const data = new Float32Array(channels * shape[0] * shape[1] * shape[2]);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s >>> 16) % 64) / 8 - 2;
  }
  return { data, shape: [channels, ...shape] };
}

/** out[k] = Σ_c weights[k][c]·in[c] + bias[k] at every voxel. */
interface LinearMap { weights: number[][]; bias: number[] }

const linearPredictor = ({ weights, bias }: LinearMap): WindowPredictor => (windows) => concat(weights.map((row, k) =>
  row.reduce((sum, w, c) => add(sum, mulScalar(slice(windows, 1, c, c + 1), w)), addScalar(mulScalar(slice(windows, 1, 0, 1), 0), bias[k]!))), 1);

/** The map applied to the whole image in float64: [Cout, X, Y, Z]. */
function applyMap({ weights, bias }: LinearMap, image: MultiChannelVolume): Float64Array {
  const n = image.data.length / image.shape[0];
  const out = new Float64Array(weights.length * n);
  weights.forEach((row, k) => {
    for (let v = 0; v < n; v++) out[k * n + v] = row.reduce((s, w, c) => s + w * image.data[c * n + v]!, bias[k]!);
  });
  return out;
}

const linearMapArb = (inChannels: number, outChannels: number): fc.Arbitrary<LinearMap> => fc.record({
  weights: fc.array(fc.array(fc.integer({ min: -4, max: 4 }).map((k) => k / 4), { minLength: inChannels, maxLength: inChannels }), { minLength: outChannels, maxLength: outChannels }),
  bias: fc.array(fc.integer({ min: -8, max: 8 }).map((k) => k / 8), { minLength: outChannels, maxLength: outChannels }),
});

const shapeArb = (max: Shape3) => fc.tuple(fc.integer({ min: 1, max: max[0] }), fc.integer({ min: 1, max: max[1] }), fc.integer({ min: 1, max: max[2] }));

/** A window grid, possibly larger than the image (then padded), the window batch and the blend. */
const gridArb = (patchMax: Shape3) => fc.tuple(shapeArb(patchMax), shapeArb([5, 5, 5]), fc.integer({ min: 1, max: 5 }), fc.constantFrom<BlendMode>('constant', 'gaussian'))
  .map(([patch, stride0, batchSize, mode]) => ({
    patch, batchSize, mode, stride: [Math.min(stride0[0], patch[0]), Math.min(stride0[1], patch[1]), Math.min(stride0[2], patch[2])] as Shape3,
  }));

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** A cpu backend that counts readbacks and syncs. */
class CountingCpuBackend extends CpuBackend {
  reads = 0;
  syncs = 0;
  override async read(s: Storage): Promise<TypedArray> { this.reads++; return super.read(s); }
  override async sync(): Promise<void> { this.syncs++; return super.sync(); }
}

/**
 * The window average of a linear map equals the map of the whole image: exactly with equal weights (dyadic values,
 * exact sums), within float32 rounding of Σ w·v / Σ w with the Gaussian's. Returns nothing; leaks nothing.
 */
async function expectWholeImageMap(
  backend: Backend, image: MultiChannelVolume, map: LinearMap, withChannels: boolean,
  opts: { patch: Shape3; stride: Shape3; batchSize: number; mode: BlendMode; cval?: number },
): Promise<void> {
  const live = liveTensorCount(), bytes = backend.memory().liveBytes;
  const outChannels = map.weights.length, spatial: Shape3 = [image.shape[1], image.shape[2], image.shape[3]];
  const got = withChannels
    ? await slidingWindow(image, linearPredictor(map), { ...opts, backend, channels: outChannels })
    : await slidingWindow(image, linearPredictor(map), { ...opts, backend });
  expect(got.shape).toEqual(withChannels ? [outChannels, ...spatial] : spatial);
  const want = applyMap(map, image);
  if (opts.mode === 'constant') expectClose(got.data, want, 0, 0, 'constant blend');
  else expectClose(got.data, want, 1e-6, 1e-6, 'gaussian blend');
  expect(liveTensorCount()).toBe(live);
  expect(backend.memory().liveBytes).toBe(bytes);
}

describe('slidingWindow of a multi-channel image [C, X, Y, Z]', () => {
  it('a per-voxel linear map of the channels gives that map of the whole image (random shapes, roi larger than the image, C in and out, both modes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb([9, 8, 7]), gridArb([6, 6, 5]), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }).chain((out) =>
          fc.tuple(fc.constant(out), fc.boolean().map((withChannels) => withChannels || out > 1))),
        fc.constantFrom(0, 1.5, -2), fc.integer({ min: 1, max: 2 ** 30 }),
        async (shape, grid, inChannels, [outChannels, withChannels], cval, seed) => {
          const map = fc.sample(linearMapArb(inChannels, outChannels), { numRuns: 1, seed })[0]!;
          await expectWholeImageMap(cpu, dyadicChannels(inChannels, shape, seed), map, withChannels, { ...grid, cval });
        }),
      { numRuns: 120 },
    );
  });

  it('the predictor gets [n, C, P0, P1, P2]: each channel cut at the same place, the padding cval in every channel', async () => {
    const shape: Shape3 = [5, 4, 3], patch: Shape3 = [8, 6, 4];
    const image = dyadicChannels(3, shape, 11);
    let got: Tensor | null = null;
    const pred: WindowPredictor = (windows) => { got = keep(detach(windows)); return slice(windows, 1, 0, 1); };
    const prob = await slidingWindow(image, pred, { backend: cpu, patch, stride: [2, 2, 2], cval: -1.5 });
    // one channel out: the first input channel, un-padded
    expect(prob.shape).toEqual(shape);
    expect(Array.from(prob.data)).toEqual(Array.from(image.data.subarray(0, 60)));
    const window = got as Tensor | null;
    if (!window) throw new Error('the predictor was not called');
    expect(window.shape).toEqual([1, 3, 8, 6, 4]);
    const w = await window.toArray();
    window.dispose();
    // pads: x 3 → (1, 2), y 2 → (1, 1), z 1 → (0, 1)
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < 8; x++) for (let y = 0; y < 6; y++) for (let z = 0; z < 4; z++) {
        const inside = x >= 1 && x < 6 && y >= 1 && y < 5 && z < 3;
        const v = w[c * 192 + idx(patch, x, y, z)]!;
        expect(v).toBe(inside ? image.data[c * 60 + idx(shape, x - 1, y - 1, z)] : -1.5);
      }
    }
  });

  it('a one-channel MultiChannelVolume [1, X, Y, Z] gives the floats of the volume [X, Y, Z]', async () => {
    const image = dyadicChannels(1, [7, 6, 5], 3);
    const volume: Volume = { data: image.data, shape: [7, 6, 5] };
    for (const mode of ['constant', 'gaussian'] as const) {
      const opts = { backend: cpu, patch: [4, 4, 3] as Shape3, stride: [2, 3, 1] as Shape3, batchSize: 3, mode };
      const a = await slidingWindow(image, sigmoid, opts), b = await slidingWindow(volume, sigmoid, opts);
      expect(a.shape).toEqual([7, 6, 5]);
      expect(bits(a.data)).toEqual(bits(b.data));
    }
  });

  it('cval is refused unless finite, naming it', async () => {
    const image = dyadicChannels(2, [4, 4, 4], 1);
    for (const cval of [NaN, Infinity, -Infinity]) {
      await expect(slidingWindow(image, (w) => slice(w, 1, 0, 1), { backend: cpu, patch: [6, 4, 4], cval }))
        .rejects.toThrow(new RegExp(`^slidingWindow: cval must be a finite number, got ${cval}$`));
    }
  });

  it('webgpu: the linear map of the whole image, both modes', async () => {
    const gpu = await webgpu();
    await fc.assert(
      fc.asyncProperty(shapeArb([7, 6, 5]), gridArb([5, 4, 4]), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 2 ** 30 }),
        async (shape, grid, inChannels, seed) => {
          const map = fc.sample(linearMapArb(inChannels, 2), { numRuns: 1, seed })[0]!;
          await expectWholeImageMap(gpu, dyadicChannels(inChannels, shape, seed), map, true, grid);
        }),
      { numRuns: 6, seed: 3 },
    );
  });
});

/** σ of a linear map: not exact in float32, so equal bits mean the same operations in the same order. */
const nonlinear = (map: LinearMap): WindowPredictor => (windows) => sigmoid(linearPredictor(map)(windows));

describe('slidingWindow of a batch of images (MONAI\'s B)', () => {
  it('each image\'s result is bit for bit its own run, whatever the window batch across images (random sizes, both modes)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(shapeArb([8, 7, 6]), { minLength: 1, maxLength: 3 }), gridArb([5, 5, 4]), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 ** 30 }),
        async (shapes, grid, inChannels, seed) => {
          const images = shapes.map((shape, b) => dyadicChannels(inChannels, shape, seed + b));
          const predict = nonlinear(fc.sample(linearMapArb(inChannels, 2), { numRuns: 1, seed })[0]!);
          const live = liveTensorCount(), buffers = cpu.memory().liveBuffers;
          let predictions = 0;
          const progress: [number, number][] = [];
          const all = await slidingWindow(images, (w) => { predictions++; return predict(w); }, { ...grid, backend: cpu, channels: 2, onProgress: (d, t) => progress.push([d, t]) });
          const total = shapes.reduce((s, shape) => s + windowGrid(shape, grid.patch, grid.stride).count, 0);
          expect(predictions).toBe(Math.ceil(total / grid.batchSize));
          expect(progress[0]).toEqual([0, total]);
          expect(progress.at(-1)).toEqual([total, total]);
          expect(all).toHaveLength(images.length);
          for (const [b, image] of images.entries()) {
            const one = await slidingWindow(image, predict, { ...grid, backend: cpu, channels: 2 });
            expect(all[b]!.shape).toEqual([2, ...shapes[b]!]);
            expect(bits(all[b]!.data)).toEqual(bits(one.data));
          }
          expect(liveTensorCount()).toBe(live);
          expect(cpu.memory().liveBuffers).toBe(buffers);
        }),
      { numRuns: 50 },
    );
  });

  it('a batch of volumes [X, Y, Z] without channels gives volumes; one readback per image, no sync', async () => {
    const counting = new CountingCpuBackend();
    const images: Volume[] = [[6, 5, 4], [4, 7, 5], [6, 5, 4]].map((shape, b) => ({ data: dyadicChannels(1, shape as Shape3, b).data, shape: shape as Shape3 }));
    const probs = await slidingWindow(images, sigmoid, { backend: counting, patch: [4, 4, 4], stride: [2, 2, 1], batchSize: 4 });
    expect(probs.map((p) => p.shape)).toEqual(images.map((im) => im.shape));
    expect(counting.reads).toBe(3);
    expect(counting.syncs).toBe(0);
    for (const [b, image] of images.entries()) {
      for (let i = 0; i < image.data.length; i++) expect(probs[b]!.data[i]).toBeCloseTo(1 / (1 + Math.exp(-image.data[i]!)), 6);
    }
    expect(counting.memory().liveBuffers).toBe(0);
  });

  it('the windows of one grid row are one copy, but a run never spans two images', async () => {
    // z starts [0, 2, 4, 6]: each image is one row of 4 windows, 2 apart
    const images = [0, 1].map((b) => dyadicChannels(2, [4, 4, 10], b));
    const backend = new CopyCountingCpuBackend();
    const probs = await slidingWindow(images, (w) => w, { backend, patch: [4, 4, 4], stride: [2, 2, 2], batchSize: 8, channels: 2 });
    expect(probs.map((p) => Array.from(p.data))).toEqual(images.map((im) => Array.from(im.data)));
    expect(backend.copies).toBe(2);
  });

  it('refuses an empty batch, images of different channels, and a bad image, naming which, and frees everything', async () => {
    const opts = { backend: cpu, patch: [4, 4, 4] as Shape3, stride: [2, 2, 2] as Shape3 };
    const first = (w: Tensor) => slice(w, 1, 0, 1);
    const live = liveTensorCount(), buffers = cpu.memory().liveBuffers;
    await expect(slidingWindow([], first, opts)).rejects.toThrow(/^slidingWindow: the batch holds no image$/);
    const two = dyadicChannels(2, [4, 4, 4], 1), three = dyadicChannels(3, [5, 4, 4], 2);
    await expect(slidingWindow([two, two, three], first, opts))
      .rejects.toThrow(/^slidingWindow: the images of a batch must have the same channels \(the windows are \[n, C, …patch\]\): image 0 has 2, image 2 has 3$/);
    await expect(slidingWindow([two, { data: two.data, shape: [2, 4, 4, 5] }], first, opts))
      .rejects.toThrow(/^slidingWindow: image 1 of the batch: data length 128 does not match shape \[2, 4, 4, 5\]$/);
    await expect(slidingWindow([two, { data: two.data, shape: [4, 4] } as unknown as SlidingWindowImage], first, opts))
      .rejects.toThrow(/^slidingWindow: image 1 of the batch must be a host volume \{ data, shape: \[X, Y, Z\] \} or channels first \{ data, shape: \[C, X, Y, Z\] \}, got shape \[4, 4\]$/);
    // a predictor that fails on the second image's first window (8 windows each)
    const six = dyadicChannels(2, [6, 6, 6], 3);
    let calls = 0;
    await expect(slidingWindow([six, six], (w) => { if (++calls === 9) throw new Error('model failed'); return first(w); }, opts)).rejects.toThrow('model failed');
    expect(calls).toBe(9);
    expect(liveTensorCount()).toBe(live);
    expect(cpu.memory().liveBuffers).toBe(buffers);
  });

  it('webgpu: each image\'s result is its own run', async () => {
    const gpu = await webgpu();
    const images = [[6, 5, 4], [5, 6, 3]].map((shape, b) => dyadicChannels(2, shape as Shape3, 7 + b));
    const predict = nonlinear({ weights: [[0.5, -0.25], [1, 0.75]], bias: [0.125, -0.5] });
    for (const mode of ['constant', 'gaussian'] as const) {
      const opts = { backend: gpu, patch: [4, 4, 3] as Shape3, stride: [2, 1, 2] as Shape3, batchSize: 5, mode, channels: 2 };
      const all = await slidingWindow(images, predict, opts);
      for (const [b, image] of images.entries()) expect(bits(all[b]!.data)).toEqual(bits((await slidingWindow(image, predict, opts)).data));
    }
  });
});

describe('overlap per axis', () => {
  /** MONAI's window count along one axis: scan interval max(1, ⌊roi·(1 − overlap)⌋) over the (padded) size. */
  const monaiWindows = (size: number, roi: number, overlap: number) => {
    const interval = Math.max(1, Math.floor(roi * (1 - overlap)));
    return Math.ceil((Math.max(size, roi) - roi) / interval) + 1;
  };

  it('one overlap per axis is the stride max(1, ⌊P·(1 − overlap)⌋) per axis; one number is that number on every axis', async () => {
    const image = dyadicChannels(2, [12, 10, 7], 5);
    const predict = nonlinear({ weights: [[0.5, 0.25]], bias: [0] });
    const run = async (grid: { overlap?: number | Shape3; stride?: Shape3 }) => {
      let total = 0;
      const prob = await slidingWindow(image, predict, { backend: cpu, patch: [8, 6, 4], ...grid, onProgress: (_, t) => { total = t; } });
      return { total, bits: bits(prob.data) };
    };
    const perAxis = await run({ overlap: [0, 0.5, 0.9] });
    // strides 8, 3, max(1, ⌊0.4⌋) = 1
    expect(perAxis).toEqual(await run({ stride: [8, 3, 1] }));
    expect(perAxis.total).toBe(monaiWindows(12, 8, 0) * monaiWindows(10, 6, 0.5) * monaiWindows(7, 4, 0.9));
    expect(await run({ overlap: [0.25, 0.25, 0.25] })).toEqual(await run({ overlap: 0.25 }));
  });

  it('refuses an overlap outside [0, 1) on any axis, or not 3 of them, and overlap with stride, naming them', async () => {
    const image = dyadicChannels(1, [8, 8, 8], 1);
    const opts = { backend: cpu, patch: [4, 4, 4] as Shape3 };
    for (const overlap of [[0.5, 1, 0], [0.5, -0.1, 0], [0.5, NaN, 0], [0.5, 0.5]]) {
      await expect(slidingWindow(image, sigmoid, { ...opts, overlap: overlap as Shape3 }))
        .rejects.toThrow(`slidingWindow: overlap must be in [0, 1) on each of the 3 axes, got [${overlap.join(', ')}]`);
    }
    await expect(slidingWindow(image, sigmoid, { ...opts, overlap: [0.5, 0.5, 0.5], stride: [2, 2, 2] }))
      .rejects.toThrow(/^slidingWindow: give stride or overlap, not both \(stride \[2, 2, 2\], overlap \[0\.5, 0\.5, 0\.5\]\)$/);
  });
});
