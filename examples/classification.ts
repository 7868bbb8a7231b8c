/**
 * `npx tsx examples/classification.ts [options]` — 3-D classification as MONAI's "3D classification with ResNet"
 * tutorial does it, on generated volumes: each holds one object, a solid ellipsoid, a box or a hollow ellipsoidal
 * shell, of random size, position and contrast, over a random intensity ramp in noise; the class is the object's
 * shape. As the tutorial: ScaleIntensity then random flips and quarter turns (RandFlip, RandRotate90) of the
 * training volumes, MONAI's ResNet (resnet10 or resnet18, narrowed by --widen) trained with CrossEntropyLoss, AdamW
 * and a cosine schedule; on held-out volumes, the accuracy of the arg-max class and ROCAUCMetric of the softmax
 * probabilities against the one-hot labels (macro average). Writes a checkpoint and the loss plot into --out; the
 * last line printed is one JSON object {"metric", "before", "after", "better"} (ROC AUC on the held-out volumes).
 */
import {
  AdamW, backward, CosineAnnealingLR, CrossEntropyLoss, detach, fromArray, keep, noGrad, resnet10, resnet18, softmax, tidy, type ResNet, type Tensor,
} from 'voxgrad';
import { Compose, Progress, RandFlip, RandRotate90, Rng, ROCAUCMetric, ScaleIntensity, type Volume } from 'voxgrad/imaging';
import { BACKEND_OPTION, finalLine, outputFolder, parseOptions, recordLoss, runExample, saveRun, useBackend } from './common.js';

const OPTIONS = {
  iters: { value: 200, integer: true, min: 1, help: 'training iterations' },
  batch: { value: 8, integer: true, min: 2, help: 'volumes per iteration (BatchNorm needs two or more)' },
  size: { value: 16, integer: true, min: 8, help: 'volume extent (size³)' },
  'train-cases': { value: 96, integer: true, min: 3, help: 'training volumes (in a new random order each pass, freshly augmented each time; classes in turn)' },
  'val-cases': { value: 30, integer: true, min: 3, help: 'held-out volumes (classes in turn)' },
  depth: { value: '10', choices: ['10', '18'], help: 'MONAI\'s resnet10 or resnet18' },
  widen: { value: 0.125, min: 0.015625, help: 'ResNet widenFactor: channels per stage 64, 128, 256, 512 times this (at least one channel)' },
  'conv1-size': { value: 7, integer: true, min: 1, help: 'ResNet conv1TSize: the first convolution\'s kernel (MONAI\'s default 7)' },
  'conv1-stride': { value: 2, integer: true, min: 1, help: 'ResNet conv1TStride: the first convolution\'s stride (MONAI\'s default 1; 2 for speed here)' },
  lr: { value: 0.003, min: 0, help: 'initial learning rate (cosine to 1% of it)' },
  'weight-decay': { value: 1e-4, min: 0, help: 'AdamW weight decay' },
  noise: { value: 0.25, min: 0, help: 'noise standard deviation (object contrasts are 0.5–1)' },
  seed: { value: 1, integer: true, help: 'seed of the data, the augmentation and the weights' },
  out: { value: 'runs/classification', help: 'output folder' },
  backend: BACKEND_OPTION,
};

// --------------------------------------------------------------------------------------------- the data

const CLASSES = ['ellipsoid', 'box', 'shell'] as const;

/** A volume as loaded (the tutorial's image and its class index). */
interface Sample { image: Volume; label: number }

/**
 * One volume S³ of class `label`: the object (radii or half-sizes 18–32 % of S per axis, the shell's cavity 60–75 % of
 * its radii) at a random place and contrast, a random ramp, noise. A box is on average larger than an ellipsoid of
 * the same radii and a shell smaller, but their volumes overlap widely, so brightness alone does not give the class.
 */
function makeSample(rng: Rng, S: number, label: number, noise: number): Sample {
  const centre = [0, 1, 2].map(() => rng.uniform(0.35, 0.65) * (S - 1));
  const extent = [0, 1, 2].map(() => rng.uniform(0.18, 0.32) * S);
  const cavity = rng.uniform(0.6, 0.75);
  const contrast = rng.uniform(0.5, 1), ramp = [0, 1, 2].map(() => rng.uniform(-0.3, 0.3) / S);
  const inside: (d: number[]) => boolean = CLASSES[label] === 'box'
    ? (d) => d.every((v, a) => Math.abs(v) <= extent[a]!)
    : (d) => {
      const r2 = d.reduce((s, v, a) => s + (v / extent[a]!) ** 2, 0);
      return r2 <= 1 && (CLASSES[label] === 'ellipsoid' || r2 >= cavity ** 2);
    };
  const data = new Float32Array(S ** 3);
  let i = 0;
  for (let x = 0; x < S; x++) for (let y = 0; y < S; y++) for (let z = 0; z < S; z++, i++) {
    const d = [x - centre[0]!, y - centre[1]!, z - centre[2]!];
    data[i] = (inside(d) ? contrast : 0) + d.reduce((s, v, a) => s + v * ramp[a]!, 0) + noise * rng.normal();
  }
  return { image: { data, shape: [S, S, S] }, label };
}

// ---------------------------------------------------------------------------------------- the transforms

// the tutorial's: ScaleIntensity to [0, 1], then (training only) random flips and quarter turns, which keep the class
const scale = new ScaleIntensity({ keys: 'image' });
const trainTransforms = new Compose<Sample, false>([
  scale,
  ...[0, 1, 2].map((axis) => new RandFlip({ keys: 'image', prob: 0.5, spatialAxis: axis })),
  new RandRotate90({ keys: 'image', prob: 0.5, spatialAxes: [0, 1] }),
]);

/** samples as the batch [B, 1, X, Y, Z] and their classes [B] (int32) */
function collate(samples: readonly Sample[]): { images: Tensor; labels: Tensor } {
  const n = samples[0]!.image.data.length, data = new Float32Array(samples.length * n);
  samples.forEach((s, b) => data.set(s.image.data, b * n));
  return {
    images: fromArray(data, [samples.length, 1, ...samples[0]!.image.shape]),
    labels: fromArray(Int32Array.from(samples, (s) => s.label), [samples.length]),
  };
}

// ----------------------------------------------------------------------------------------- evaluation

interface Scores { accuracy: number; auc: number; perClass: number[] }

/**
 * The tutorial's validation: softmax probabilities of the held-out volumes (BatchNorm in eval mode), the accuracy
 * of their arg-max, and ROCAUCMetric of the probabilities against the one-hot labels (macro, and per class).
 */
async function evaluate(model: ResNet, cases: readonly Sample[], batch: number): Promise<Scores> {
  model.eval();
  const metric = new ROCAUCMetric();
  let correct = 0;
  for (let start = 0; start < cases.length; start += batch) {
    const chunk = cases.slice(start, start + batch);
    const probabilities = noGrad(() => tidy(() => softmax(model.forward(collate(chunk).images), 1)));
    const p = await probabilities.toArray();
    probabilities.dispose();
    const C = CLASSES.length;
    const rows = chunk.map((_, b) => Array.from(p.subarray(b * C, (b + 1) * C)));
    rows.forEach((row, b) => { if (row.indexOf(Math.max(...row)) === chunk[b]!.label) correct++; });
    metric.call(rows, chunk.map((s) => CLASSES.map((_, c) => (c === s.label ? 1 : 0))));
  }
  model.train();
  return { accuracy: correct / cases.length, auc: metric.aggregate(), perClass: metric.aggregate('none') as number[] };
}

function printScores(when: string, s: Scores): void {
  const classes = CLASSES.map((name, c) => `${name} ${s.perClass[c]!.toFixed(3)}`);
  console.log(`${when}: accuracy ${(100 * s.accuracy).toFixed(1)} %, ROC AUC ${s.auc.toFixed(3)} (${classes.join(', ')})`);
}

// ---------------------------------------------------------------------------------------------- main

async function main(argv: readonly string[]): Promise<void> {
  const o = parseOptions('examples/classification.ts', 'Classifying generated 3-D volumes by the shape they hold with MONAI\'s ResNet, as MONAI\'s 3-D classification tutorial (voxgrad example).', OPTIONS, argv);
  if (!o) return;
  const stages = [64, 128, 256, 512].map((c) => Math.floor(c * o.widen));
  const files = outputFolder(o.out);

  const backend = await useBackend(o.backend);
  const rng = new Rng(o.seed);
  const trainCases = Array.from({ length: o['train-cases'] }, (_, i) => makeSample(rng, o.size, i % CLASSES.length, o.noise));
  const valCases = Array.from({ length: o['val-cases'] }, (_, i) => scale.apply(makeSample(rng, o.size, i % CLASSES.length, o.noise)));
  const network = o.depth === '18' ? resnet18 : resnet10;
  const model = network({ nInputChannels: 1, numClasses: CLASSES.length, widenFactor: o.widen, conv1TSize: o['conv1-size'], conv1TStride: o['conv1-stride'], seed: o.seed });
  console.log(`resnet${o.depth} (channels ${stages.join('/')}, conv1 ${o['conv1-size']}³ stride ${o['conv1-stride']}), ${model.numParameters()} parameters, ${CLASSES.length} classes (${CLASSES.join(', ')}), on ${backend.name}`);

  const before = await evaluate(model, valCases, o.batch);
  printScores('before training, held-out volumes', before);

  const lossFunction = new CrossEntropyLoss();
  const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o['weight-decay'] });
  const scheduler = new CosineAnnealingLR(optimizer, o.iters, { etaMin: o.lr / 100 });
  let queue: number[] = [];
  const losses: number[] = [];
  const bar = new Progress('train', o.iters);
  for (let it = 0; it < o.iters; it++) {
    // the training volumes in a new random order each pass (the tutorial's DataLoader with shuffle)
    while (queue.length < o.batch) queue = [...queue, ...rng.permutation(trainCases.length)];
    const samples = queue.splice(0, o.batch).map((i) => trainTransforms.apply(trainCases[i]!, rng));
    const lr = scheduler.getLastLr()[0]!;
    const loss = tidy(() => {
      const { images, labels } = collate(samples);
      const value = lossFunction.forward(model.forward(images), labels);
      backward(value);
      noGrad(() => optimizer.step());
      return keep(detach(value));
    });
    optimizer.zeroGrad();
    scheduler.step();
    await recordLoss(loss, it + 1, lr, losses, bar);
  }
  bar.done();

  const after = await evaluate(model, valCases, o.batch);
  printScores('after training, held-out volumes', after);
  await saveRun(files, model, o, `resnet${o.depth}: cross-entropy of ${CLASSES.length} shape classes`, losses);
  console.log(`wrote ${files.checkpoint} and ${files.lossPlot}`);
  backend.dispose();
  console.log(finalLine('ROC AUC (macro) on held-out volumes', before.auc, after.auc, true));
}

runExample('classification', main);
