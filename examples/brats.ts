/**
 * `npx tsx examples/brats.ts [options]` — MONAI's BraTS segmentation tutorial (brats_segmentation_3d) on generated
 * cases, as there is no BraTS data here. Each case has BraTS's four modalities (FLAIR, T1, T1ce, T2) of a brain with
 * a tumour of nested regions labelled as BraTS labels them (2 oedema, 1 necrotic core, 4 enhancing rim), each
 * region with its own contrast per modality. As the tutorial: the label becomes the three overlapping regions TC,
 * WT and ET (ConvertToMultiChannelBasedOnBratsClasses); a typed Compose of random crops and flips of the four-channel
 * image with the regions, a nonzero, channel-wise NormalizeIntensity and random intensity scaling/shifting; MONAI's
 * SegResNet trained with DiceLoss on sigmoid outputs (squared_pred), AdamW with a linear warm-up then a cosine
 * (SequentialLR), optionally with autocast + GradScaler (--amp); validation is sliding-window inference of the four-channel held-out cases,
 * sigmoid > 0.5 per region, and a DiceMetric per region. Writes a checkpoint and the loss plot into --out; the last
 * line printed is one JSON object {"metric", "before", "after", "better"} (mean Dice of TC, WT and ET).
 */
import {
  AdamW, autocast, backward, CosineAnnealingLR, detach, DiceLoss, fromArray, GradScaler, keep, LinearLR, noGrad, SegResNet, SequentialLR,
  sigmoid, tidy, type LRScheduler, type Tensor,
} from 'voxgrad';
import {
  BRATS_REGIONS, Compose, ConvertToMultiChannelBasedOnBratsClasses, DiceMetric, NormalizeIntensity, Progress, RandFlip, RandScaleIntensity,
  RandShiftIntensity, RandSpatialCrop, Rng, slidingWindowInference, type MultiChannelVolume, type Shape3, type Volume,
} from 'voxgrad/imaging';
import { BACKEND_OPTION, finalLine, outputFolder, parseOptions, recordLoss, runExample, saveRun, UsageError, useBackend } from './common.js';

const OPTIONS = {
  iters: { value: 60, integer: true, min: 1, help: 'training iterations' },
  batch: { value: 2, integer: true, min: 1, help: 'crops per iteration' },
  size: { value: 16, integer: true, min: 8, help: 'case extent (size³)' },
  crop: { value: 8, integer: true, min: 4, help: 'training crop and inference window (crop³; divisible by 2^(levels−1), ≤ size)' },
  'train-cases': { value: 16, integer: true, min: 1, help: 'training cases (cycled, freshly augmented each time)' },
  'val-cases': { value: 4, integer: true, min: 1, help: 'held-out validation cases' },
  'init-filters': { value: 8, integer: true, min: 1, help: 'SegResNet channels of the first level (GroupNorm with min(8, this) groups)' },
  'blocks-down': { value: '1,2', help: 'SegResNet residual blocks per level, finest first (one block per decoder level; MONAI\'s tutorial: 1,2,2,4)' },
  dropout: { value: 0, min: 0, help: 'SegResNet dropout probability (0: none; MONAI\'s tutorial: 0.2)' },
  lr: { value: 0.01, min: 0, help: 'peak learning rate (after the warm-up; cosine to 1% of it)' },
  warmup: { value: 6, integer: true, min: 0, help: 'warm-up iterations (linear from 10% of --lr)' },
  'weight-decay': { value: 1e-5, min: 0, help: 'AdamW weight decay' },
  noise: { value: 0.1, min: 0, help: 'noise standard deviation (relative to the brain intensity)' },
  amp: { value: false, help: 'mixed precision: autocast (float16 convolutions) and GradScaler' },
  seed: { value: 1, integer: true, help: 'seed of the data, the augmentation and the weights' },
  out: { value: 'runs/brats', help: 'output folder' },
  backend: BACKEND_OPTION,
};

// --------------------------------------------------------------------------------------------- the data

const MODALITIES = ['flair', 't1', 't1ce', 't2'] as const;
type Modality = (typeof MODALITIES)[number];

/** A case as loaded (MONAI's LoadImaged + EnsureChannelFirstd): the modalities as the channel-first image [4, X, Y, Z] and the BraTS label (0, 1, 2, 4). */
interface Case { image: MultiChannelVolume; label: Volume<Uint8Array> }

/** What the transforms make of a case: the channel-first image [4, X, Y, Z] and the regions [3, X, Y, Z] (TC, WT, ET). */
interface Sample { image: MultiChannelVolume; label: MultiChannelVolume }

/** Intensity per modality of brain tissue and of the labels 2 (oedema), 1 (necrosis) and 4 (enhancing), roughly MRI's contrasts. */
const CONTRAST: Record<Modality, Record<0 | 1 | 2 | 4, number>> = {
  flair: { 0: 0.5, 2: 1.0, 1: 0.7, 4: 0.8 },
  t1: { 0: 0.6, 2: 0.45, 1: 0.3, 4: 0.5 },
  t1ce: { 0: 0.6, 2: 0.5, 1: 0.3, 4: 1.2 },
  t2: { 0: 0.4, 2: 0.9, 1: 1.1, 4: 0.7 },
};

const inEllipsoid = (p: readonly number[], c: readonly number[], r: readonly number[]): boolean =>
  p.reduce((s, v, a) => s + ((v - c[a]!) / r[a]!) ** 2, 0) <= 1;

/**
 * One case S³: a brain (an ellipsoid; 0 outside, as skull-stripped BraTS) with a tumour: oedema (2) around a core,
 * whose outer shell enhances (4) around necrosis (1). Each modality has its own random gain (normalisation's work).
 */
function makeCase(rng: Rng, S: number, noise: number): Case {
  const mid = (S - 1) / 2;
  const brainR = [0, 1, 2].map(() => rng.uniform(0.4, 0.48) * S);
  const wtC = [0, 1, 2].map(() => mid + rng.uniform(-0.1, 0.1) * S), wtR = [0, 1, 2].map(() => rng.uniform(0.2, 0.3) * S);
  const tcC = wtC.map((c, a) => c + rng.uniform(-0.25, 0.25) * wtR[a]!), tcR = wtR.map((r) => r * rng.uniform(0.5, 0.7));
  const necrosisR = tcR.map((r) => r * rng.uniform(0.4, 0.6));
  const gain = MODALITIES.map(() => rng.uniform(0.6, 1.6));
  const n = S ** 3, label = new Uint8Array(n), image = new Float32Array(MODALITIES.length * n);
  const images = MODALITIES.map((_, k) => image.subarray(k * n, (k + 1) * n));
  let i = 0;
  for (let x = 0; x < S; x++) for (let y = 0; y < S; y++) for (let z = 0; z < S; z++, i++) {
    const p = [x, y, z];
    if (!inEllipsoid(p, [mid, mid, mid], brainR)) continue;
    const l = inEllipsoid(p, tcC, necrosisR) ? 1 : inEllipsoid(p, tcC, tcR) ? 4 : inEllipsoid(p, wtC, wtR) ? 2 : 0;
    label[i] = l;
    MODALITIES.forEach((m, k) => { images[k]![i] = gain[k]! * (CONTRAST[m][l] + noise * rng.normal()); });
  }
  return { image: { data: image, shape: [MODALITIES.length, S, S, S] }, label: { data: label, shape: [S, S, S] } };
}

// ---------------------------------------------------------------------------------------- the transforms

const keys = ['image', 'label'];
/** what both pipelines start and end with: the label's regions first, the image normalised per channel over the brain last (MONAI's tutorial) */
const toRegions = new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label' });
const normalize = new NormalizeIntensity({ keys: 'image', nonzero: true, channelWise: true });

function trainTransforms(crop: number): Compose<Sample, false> {
  return new Compose<Sample, false>([
    toRegions,
    new RandSpatialCrop({ keys, roiSize: crop, randomSize: false }),
    ...[0, 1, 2].map((axis) => new RandFlip({ keys, prob: 0.5, spatialAxis: axis })),
    normalize,
    new RandScaleIntensity({ keys: 'image', factors: 0.1, prob: 1 }),
    new RandShiftIntensity({ keys: 'image', offsets: 0.1, prob: 1 }),
  ]);
}

const valTransforms = new Compose<Sample, false>([toRegions, normalize]);

/** samples' images and targets as batches [B, C, X, Y, Z] */
function collate(volumes: readonly MultiChannelVolume[]): Tensor {
  const n = volumes[0]!.data.length, data = new Float32Array(volumes.length * n);
  volumes.forEach((v, b) => data.set(v.data, b * n));
  return fromArray(data, [volumes.length, ...volumes[0]!.shape]);
}

// ----------------------------------------------------------------------------------------- evaluation

/**
 * The tutorial's validation: each case's regions by sliding-window inference (window = the crop, half overlap) of
 * sigmoid(model), > 0.5, and a DiceMetric per region (the regions overlap, so three binary metrics, not class maps).
 * Returns the Dice of TC, WT and ET, each averaged over the cases (a case without the region is left out, as MONAI's).
 */
async function evaluate(model: SegResNet, cases: readonly Sample[], crop: number): Promise<number[]> {
  model.eval();
  const metrics = BRATS_REGIONS.map(() => new DiceMetric());
  const probabilities = await slidingWindowInference(cases.map((c) => c.image), (w) => sigmoid(model.forward(w)), {
    patch: [crop, crop, crop], overlap: 0.5, batchSize: 4, channels: BRATS_REGIONS.length,
  });
  cases.forEach((c, k) => {
    const [, X, Y, Z] = c.label.shape, n = X * Y * Z, shape: Shape3 = [X, Y, Z];
    metrics.forEach((metric, r) => {
      const region = (data: Float32Array) => Uint8Array.from(data.subarray(r * n, (r + 1) * n), (v) => (v > 0.5 ? 1 : 0));
      metric.call(region(probabilities[k]!.data), region(c.label.data), shape);
    });
  });
  model.train();
  return metrics.map((m) => m.aggregate());
}

const average = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / v.length;

function printDice(when: string, dice: readonly number[]): void {
  const regions = BRATS_REGIONS.map(({ name }, r) => `${name} ${(100 * dice[r]!).toFixed(1)} %`);
  console.log(`${when}: mean Dice ${(100 * average(dice)).toFixed(1)} % (${regions.join(', ')})`);
}

// ---------------------------------------------------------------------------------------------- main

/** --blocks-down checked against --crop, which every level below the first must halve */
function blocksDown(text: string, crop: number): number[] {
  const blocks = text.split(',').map((v) => Number(v));
  if (blocks.length < 2 || blocks.some((b) => !Number.isInteger(b) || b < 1)) {
    throw new UsageError(`--blocks-down must be two or more positive integers separated by commas, got '${text}'`);
  }
  const factor = 2 ** (blocks.length - 1);
  if (crop % factor !== 0) throw new UsageError(`--crop ${crop} must be divisible by ${factor} (${blocks.length} levels)`);
  return blocks;
}

/** the tutorial's schedule with a warm-up: LinearLR from 10 % for `warmup` iterations, then CosineAnnealingLR to 1 % */
function schedule(optimizer: AdamW, lr: number, iters: number, warmup: number): LRScheduler {
  const cosine = () => new CosineAnnealingLR(optimizer, iters - warmup, { etaMin: lr / 100 });
  if (warmup === 0) return cosine();
  return new SequentialLR(optimizer, [new LinearLR(optimizer, { startFactor: 0.1, totalIters: warmup }), cosine()], [warmup]);
}

async function main(argv: readonly string[]): Promise<void> {
  const o = parseOptions('examples/brats.ts', 'BraTS-style multi-region tumour segmentation with SegResNet, MONAI\'s tutorial on generated cases (voxgrad example).', OPTIONS, argv);
  if (!o) return;
  const blocks = blocksDown(o['blocks-down'], o.crop);
  if (o.crop > o.size) throw new UsageError(`--crop ${o.crop} must be at most --size ${o.size}`);
  if (o.warmup >= o.iters) throw new UsageError(`--warmup ${o.warmup} must be less than --iters ${o.iters}`);
  if (o.dropout >= 1) throw new UsageError(`--dropout must be below 1, got ${o.dropout}`);
  const groups = Math.min(8, o['init-filters']);
  if (o['init-filters'] % groups !== 0) throw new UsageError(`--init-filters ${o['init-filters']} must be at most 8 or a multiple of 8 (GroupNorm groups)`);
  const files = outputFolder(o.out);

  const backend = await useBackend(o.backend);
  const rng = new Rng(o.seed);
  const trainCases = Array.from({ length: o['train-cases'] }, () => makeCase(rng, o.size, o.noise));
  const valCases = Array.from({ length: o['val-cases'] }, () => valTransforms.apply(makeCase(rng, o.size, o.noise)));
  const model = new SegResNet({
    blocksDown: blocks, blocksUp: blocks.slice(1).map(() => 1), initFilters: o['init-filters'], inChannels: MODALITIES.length,
    outChannels: BRATS_REGIONS.length, dropoutProb: o.dropout > 0 ? o.dropout : null, norm: ['group', { numGroups: groups }], seed: o.seed,
  });
  console.log(`SegResNet blocks ${blocks.join('/')}, ${o['init-filters']} initial filters, ${model.numParameters()} parameters${o.amp ? ', autocast float16 + GradScaler' : ''}, on ${backend.name}`);

  const before = await evaluate(model, valCases, o.crop);
  printDice('before training, validation cases', before);

  // MONAI's tutorial: DiceLoss(smooth_nr=0, smooth_dr=1e-5, squared_pred=True, to_onehot_y=False, sigmoid=True)
  const lossFunction = new DiceLoss({ sigmoid: true, squaredPred: true, smoothNr: 0, smoothDr: 1e-5 });
  const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o['weight-decay'] });
  const scheduler = schedule(optimizer, o.lr, o.iters, o.warmup);
  const scaler = o.amp ? new GradScaler() : null;
  const transforms = trainTransforms(o.crop);
  const losses: number[] = [];
  const bar = new Progress('train', o.iters);
  for (let it = 0; it < o.iters; it++) {
    const lr = scheduler.getLastLr()[0]!;
    const samples = Array.from({ length: o.batch }, (_, b) => transforms.apply(trainCases[(it * o.batch + b) % trainCases.length]!, rng));
    const loss = tidy(() => {
      const x = collate(samples.map((s) => s.image)), target = collate(samples.map((s) => s.label));
      const compute = () => lossFunction.forward(model.forward(x), target);
      const value = scaler ? autocast(compute, { dtype: 'float16' }) : compute();
      backward(scaler ? scaler.scale(value) : value);
      if (!scaler) noGrad(() => optimizer.step());
      return keep(detach(value));
    });
    // the scaler's step skips the update when a gradient overflowed in float16, then adjusts the scale
    if (scaler) {
      (await scaler.step(optimizer)).dispose();
      scaler.update();
    }
    optimizer.zeroGrad();
    scheduler.step();
    await recordLoss(loss, it + 1, lr, losses, bar);
  }
  bar.done();

  const after = await evaluate(model, valCases, o.crop);
  printDice('after training, validation cases', after);
  await saveRun(files, model, o, 'SegResNet: DiceLoss (sigmoid, squared_pred) on TC, WT, ET', losses);
  console.log(`wrote ${files.checkpoint} and ${files.lossPlot}`);
  backend.dispose();
  console.log(finalLine('mean Dice of TC, WT and ET', average(before), average(after), true));
}

runExample('brats', main);
