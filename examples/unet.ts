/**
 * `npx tsx examples/unet.ts [options]` — multi-class 3-D segmentation with a MONAI-BasicUNet-like U-Net on
 * generated volumes: up to three structures (a bright ellipsoid, a box of middle intensity, a dark sphere)
 * in noise with a random intensity ramp. Trained on fresh volumes every iteration with softmax + multi-class
 * Dice + cross-entropy, AdamW and a cosine schedule; evaluated on held-out larger volumes by sliding-window
 * inference with per-class Dice and HD95. Writes a checkpoint and the loss plot into --out; the last line
 * printed is one JSON object {"metric", "before", "after", "better"} (mean foreground Dice).
 */
import {
  add, AdamW, backward, cosineLr, crossEntropy, detach, div, fromArray, keep, mean, mulScalar, noGrad, softmax, sum,
  tidy, addScalar, mul, type Tensor,
} from 'voxgrad';
import { dice, hd95, Progress, Rng, slidingWindowInference, type Volume } from 'voxgrad/imaging';
import {
  BACKEND_OPTION, finalLine, outputFolder, parseOptions, recordLoss, runExample, saveRun, UNet, unetFeatures, UsageError, useBackend, type UpsampleMode,
} from './common.js';

const OPTIONS = {
  iters: { value: 250, integer: true, min: 1, help: 'training iterations' },
  batch: { value: 2, integer: true, min: 1, help: 'volumes per iteration (freshly generated)' },
  size: { value: 16, integer: true, min: 8, help: 'training volume extent (size³; divisible by 2^(levels−1)); also the inference window' },
  'eval-size': { value: 24, integer: true, min: 8, help: 'held-out volume extent (≥ size)' },
  'eval-cases': { value: 2, integer: true, min: 1, help: 'held-out volumes' },
  structures: { value: 2, integer: true, min: 1, help: 'structures per volume (1–3), classes = structures + 1' },
  features: { value: '4,8,16', help: 'U-Net channels per level, finest first' },
  upsample: { value: 'deconv', choices: ['deconv', 'trilinear'], help: 'U-Net upsampling' },
  lr: { value: 0.01, min: 0, help: 'peak learning rate (cosine to 1% of it)' },
  'weight-decay': { value: 1e-4, min: 0, help: 'AdamW weight decay' },
  noise: { value: 0.35, min: 0, help: 'noise standard deviation (structure contrasts are 0.55–1)' },
  seed: { value: 1, integer: true, help: 'seed of the data and the weights' },
  out: { value: 'runs/unet', help: 'output folder' },
  backend: BACKEND_OPTION,
};

// --------------------------------------------------------------------------------------------- the data

interface LabeledVolume { image: Volume; label: Uint8Array }

const INTENSITY = [0, 1, 0.55, -0.6];

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random());
}

/** One generated volume S³ with labels 0 (background) … structures; later structures are drawn over earlier ones. */
function makeVolume(rng: Rng, S: number, structures: number, noise: number): LabeledVolume {
  const label = new Uint8Array(S ** 3);
  const centre = (margin: number) => [0, 1, 2].map(() => rng.uniform(margin, S - 1 - margin));
  const shapes: ((p: number[]) => boolean)[] = [];
  // 1: an ellipsoid
  const c1 = centre(0.3 * S), r1 = [0, 1, 2].map(() => rng.uniform(0.18, 0.3) * S);
  shapes.push((p) => p.reduce((s, v, a) => s + ((v - c1[a]) / r1[a]) ** 2, 0) <= 1);
  // 2: an axis-aligned box
  const c2 = centre(0.25 * S), h2 = [0, 1, 2].map(() => rng.uniform(0.15, 0.25) * S);
  shapes.push((p) => p.every((v, a) => Math.abs(v - c2[a]) <= h2[a]));
  // 3: a small sphere
  const c3 = centre(0.15 * S), r3 = rng.uniform(0.08, 0.14) * S;
  shapes.push((p) => p.reduce((s, v, a) => s + (v - c3[a]) ** 2, 0) <= r3 ** 2);
  const ramp = [0, 1, 2].map(() => rng.uniform(-0.2, 0.2) / S);
  const data = new Float32Array(S ** 3);
  let i = 0;
  for (let x = 0; x < S; x++) for (let y = 0; y < S; y++) for (let z = 0; z < S; z++, i++) {
    const p = [x, y, z];
    for (let k = 0; k < structures; k++) if (shapes[k](p)) label[i] = k + 1;
    data[i] = INTENSITY[label[i]] + noise * gaussian(rng) + ramp[0] * x + ramp[1] * y + ramp[2] * z;
  }
  return { image: { data, shape: [S, S, S] }, label };
}

/** The batch as tensors: images [N, 1, S, S, S], int32 labels [N, S, S, S] and their one-hot [N, C, S, S, S]. */
function batchTensors(cases: readonly LabeledVolume[], classes: number): { x: Tensor; target: Tensor; oneHot: Tensor } {
  const S = cases[0].image.shape[0], n = S ** 3, N = cases.length;
  const images = new Float32Array(N * n), labels = new Int32Array(N * n), oneHot = new Float32Array(N * classes * n);
  cases.forEach((c, b) => {
    images.set(c.image.data, b * n);
    for (let i = 0; i < n; i++) {
      labels[b * n + i] = c.label[i];
      oneHot[(b * classes + c.label[i]) * n + i] = 1;
    }
  });
  return {
    x: fromArray(images, [N, 1, S, S, S]),
    target: fromArray(labels, [N, S, S, S], { dtype: 'int32' }),
    oneHot: fromArray(oneHot, [N, classes, S, S, S]),
  };
}

// --------------------------------------------------------------------------------------------- the loss

/**
 * MONAI's DiceLoss on softmax probabilities (include_background, squared_pred False): per class k, over the
 * batch and the volume, 1 − (2·Σ p·y + s)/(Σ p + Σ y + s) with s = 1e-5, averaged over the classes.
 */
function multiClassDiceLoss(p: Tensor, oneHot: Tensor): Tensor {
  const axes = [0, 2, 3, 4], s = 1e-5;
  const ratio = div(addScalar(mulScalar(sum(mul(p, oneHot), axes), 2), s), addScalar(add(sum(p, axes), sum(oneHot, axes)), s));
  return addScalar(mulScalar(mean(ratio), -1), 1);
}

// ----------------------------------------------------------------------------------------- evaluation

interface ClassScores { dice: number[]; hd95: number[] }

/**
 * Labels of each held-out volume by sliding-window inference (window = the training size, half overlap): the
 * averaged softmax probabilities of all classes in one pass, [classes, X, Y, Z], then the most probable class
 * per voxel. Per foreground class: Dice and HD95 (voxels; NaN where the prediction or the truth is empty).
 */
async function evaluate(model: UNet, cases: readonly LabeledVolume[], classes: number, window: number): Promise<ClassScores[]> {
  model.eval();
  const scores: ClassScores[] = Array.from({ length: classes - 1 }, () => ({ dice: [], hd95: [] }));
  for (const c of cases) {
    const { data: prob } = await slidingWindowInference(c.image, (w) => softmax(model.forward(w), 1), {
      patch: [window, window, window], stride: [window / 2, window / 2, window / 2].map(Math.floor) as [number, number, number], batchSize: 4,
      channels: classes,
    });
    const n = c.label.length, predicted = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (prob[k * n + i] > prob[best * n + i]) best = k;
      predicted[i] = best;
    }
    for (let k = 1; k < classes; k++) {
      const p = predicted.map((v) => (v === k ? 1 : 0)), t = c.label.map((v) => (v === k ? 1 : 0));
      scores[k - 1].dice.push(dice(p, t));
      scores[k - 1].hd95.push(p.includes(1) && t.includes(1) ? hd95(p, t, c.image.shape) : NaN);
    }
  }
  model.train();
  return scores;
}

const average = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
const meanDice = (s: readonly ClassScores[]): number => average(s.map((c) => average(c.dice)));

/** the mean HD95 over the volumes where it is defined ('n/a' where the class was never predicted) */
function hd95Text(values: readonly number[]): string {
  const defined = values.filter((v) => !Number.isNaN(v));
  return defined.length > 0 ? `${average(defined).toFixed(2)} voxels` : 'n/a';
}

function printScores(when: string, s: readonly ClassScores[]): void {
  const cls = s.map((c, k) => `class ${k + 1}: Dice ${(100 * average(c.dice)).toFixed(1)} %, HD95 ${hd95Text(c.hd95)}`);
  console.log(`${when}: mean Dice ${(100 * meanDice(s)).toFixed(1)} % (${cls.join('; ')})`);
}

// ---------------------------------------------------------------------------------------------- main

async function main(argv: readonly string[]): Promise<void> {
  const o = parseOptions('examples/unet.ts', 'Multi-class 3-D U-Net segmentation of generated volumes (voxgrad example).', OPTIONS, argv);
  if (!o) return;
  const features = unetFeatures(o.features, o.size);
  if (o['eval-size'] < o.size) throw new UsageError(`--eval-size ${o['eval-size']} must be at least --size ${o.size}`);
  if (o.structures > 3) throw new UsageError(`--structures must be 1, 2 or 3, got ${o.structures}`);
  const classes = o.structures + 1;
  const files = outputFolder(o.out);

  const backend = await useBackend(o.backend);
  const rng = new Rng(o.seed);
  const heldOut = Array.from({ length: o['eval-cases'] }, () => makeVolume(rng, o['eval-size'], o.structures, o.noise));
  const model = new UNet({ inChannels: 1, outChannels: classes, features, upsample: o.upsample as UpsampleMode });
  console.log(`U-Net ${features.join('/')} (${o.upsample}), ${model.numParameters()} parameters, ${classes} classes, on ${backend.name}`);

  const before = await evaluate(model, heldOut, classes, o.size);
  printScores('before training', before);

  const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o['weight-decay'] });
  const losses: number[] = [];
  const bar = new Progress('train', o.iters);
  for (let it = 0; it < o.iters; it++) {
    optimizer.lr = cosineLr(it, { baseLr: o.lr, maxIterations: o.iters, minLr: o.lr / 100 });
    const cases = Array.from({ length: o.batch }, () => makeVolume(rng, o.size, o.structures, o.noise));
    const loss = tidy(() => {
      const { x, target, oneHot } = batchTensors(cases, classes);
      const logits = model.forward(x);
      const total = add(multiClassDiceLoss(softmax(logits, 1), oneHot), crossEntropy(logits, target));
      backward(total);
      noGrad(() => optimizer.step());
      optimizer.zeroGrad();
      return keep(detach(total));
    });
    await recordLoss(loss, it + 1, optimizer.lr, losses, bar);
  }
  bar.done();

  const after = await evaluate(model, heldOut, classes, o.size);
  printScores('after training', after);
  await saveRun(files, model, o, 'U-Net: softmax Dice + cross-entropy', losses);
  console.log(`wrote ${files.checkpoint} and ${files.lossPlot}`);
  backend.dispose();
  console.log(finalLine('mean foreground Dice', meanDice(before), meanDice(after), true));
}

runExample('unet', main);
