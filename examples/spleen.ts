/**
 * `npx tsx examples/spleen.ts [options]` — MONAI's spleen segmentation tutorial (spleen_segmentation_3d) on generated
 * CT-like cases, as the Decathlon's Task09 is not here. The cases are written as NIfTI files first (Hounsfield units,
 * LPS-oriented affines, anisotropic voxels: a body of soft tissue in air, a spleen and, as a distractor, a larger and
 * darker liver), then read as the tutorial reads its own: a list of {image, label} file names, LoadImage +
 * EnsureChannelFirst, ScaleIntensityRange (−57…164 HU → 0…1, clipped), CropForeground, Orientation ('RAS'), Spacing,
 * and for training RandCropByPosNegLabel (4 crops per case, half centred on the spleen); a CacheDataset keeps every
 * case as it is before the random crop, and a DataLoader batches the crops into tensors. MONAI's UNet (residual
 * units, batch norm) is trained with DiceLoss (to_onehot_y, softmax) and Adam; every --val-interval epochs the
 * validation cases are segmented by sliding-window inference, post-processed with AsDiscrete (argmax + one-hot) and
 * scored by a DiceMetric on the tensors, and the best model is saved. At the end each validation case's prediction is
 * written as NIfTI with the affine the transforms kept in step, so it overlays the case in any viewer, and, mapped back
 * by Invert (MONAI's Invertd: the transforms' records replayed backwards, nearest interpolation) onto the case's own
 * grid, affine and spacing, as `<case>_pred_original.nii.gz`, voxel for voxel against the original label. The last line
 * printed is one JSON object {"metric", "before", "after", "better"} (the validation Dice of the spleen).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Adam, backward, detach, DiceLoss, fromArray, keep, MonaiUNet, noGrad, saveModel, softmax, tidy } from 'voxgrad';
import {
  AsDiscrete, CacheDataset, Compose, CropForeground, DataLoader, DiceMetric, EnsureChannelFirst, Invert, LoadImage, Orientation,
  Progress, RandCropByPosNegLabel, Rng, ScaleIntensityRange, slidingWindowInference, Spacing, writeNifti, type MultiChannelVolume,
  type Transform,
} from 'voxgrad/imaging';
import { BACKEND_OPTION, finalLine, outputFolder, parseOptions, recordLoss, runExample, saveRun, UsageError, useBackend } from './common.js';

const OPTIONS = {
  epochs: { value: 30, integer: true, min: 1, help: 'training epochs (one pass over the training cases each)' },
  'val-interval': { value: 5, integer: true, min: 1, help: 'validate every this many epochs (and after the last)' },
  batch: { value: 2, integer: true, min: 1, help: 'cases per batch (each gives --samples crops)' },
  samples: { value: 4, integer: true, min: 1, help: 'RandCropByPosNegLabel crops per case' },
  crop: { value: 16, integer: true, min: 8, help: 'training crop and inference window (crop³; divisible by 8)' },
  size: { value: 48, integer: true, min: 24, help: 'in-plane voxels of a generated case (size × size × --slices)' },
  slices: { value: 20, integer: true, min: 8, help: 'slices of a generated case' },
  'train-cases': { value: 6, integer: true, min: 1, help: 'generated training cases' },
  'val-cases': { value: 2, integer: true, min: 1, help: 'generated validation cases' },
  channels: { value: '8,16,32,64', help: 'UNet channels per level (strides 2 between them)' },
  lr: { value: 0.01, min: 0, help: 'Adam learning rate (the tutorial: 1e-4 over 600 epochs)' },
  noise: { value: 20, min: 0, help: 'CT noise standard deviation in HU (spleen 110, liver 75, tissue 35)' },
  seed: { value: 1, integer: true, help: 'seed of the cases, the crops and the weights' },
  out: { value: 'runs/spleen', help: 'output folder (the generated cases go into its data/)' },
  backend: BACKEND_OPTION,
};

// --------------------------------------------------------------------------------------------- the data

/** in-plane and slice voxel sizes of the generated cases (mm), and what Spacing resamples them to */
const VOXEL = [0.8, 0.8, 2.5] as const;
const PIXDIM = [1.6, 1.6, 2.5] as const;
const HU = { air: -1000, tissue: 35, liver: 75, spleen: 110 };

interface CaseFiles { image: string; label: string; id: string }

/**
 * Writes one generated case as image (float32 HU) and label (uint8) NIfTI files with an LPS affine (x and y run
 * towards patient right and anterior, as DICOM's: Orientation 'RAS' flips them).
 */
function writeCase(dir: string, id: string, rng: Rng, size: number, slices: number, noise: number): CaseFiles {
  const [X, Y, Z] = [size, size, slices];
  const image = new Float32Array(X * Y * Z), label = new Uint8Array(X * Y * Z);
  const jitter = (v: number, by: number) => v + (rng.random() * 2 - 1) * by;
  // ellipsoids in voxel units: centre and radii
  const body = { c: [X / 2, Y / 2, Z / 2], r: [0.42 * X, 0.36 * Y, 0.6 * Z] };
  const spleen = { c: [jitter(0.68 * X, 0.04 * X), jitter(0.42 * Y, 0.05 * Y), jitter(Z / 2, 0.1 * Z)], r: [jitter(0.1 * X, 0.02 * X), jitter(0.14 * Y, 0.02 * Y), jitter(0.3 * Z, 0.05 * Z)] };
  const liver = { c: [jitter(0.33 * X, 0.04 * X), jitter(0.5 * Y, 0.05 * Y), jitter(Z / 2, 0.1 * Z)], r: [0.16 * X, 0.2 * Y, 0.4 * Z] };
  const inside = (e: { c: number[]; r: number[] }, x: number, y: number, z: number) =>
    ((x - e.c[0]!) / e.r[0]!) ** 2 + ((y - e.c[1]!) / e.r[1]!) ** 2 + ((z - e.c[2]!) / e.r[2]!) ** 2 < 1;
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
    const i = (x * Y + y) * Z + z;
    const inSpleen = inside(spleen, x, y, z);
    const hu = !inside(body, x, y, z) ? HU.air : inSpleen ? HU.spleen : inside(liver, x, y, z) ? HU.liver : HU.tissue;
    image[i] = hu + noise * rng.normal();
    label[i] = inSpleen ? 1 : 0;
  }
  const affine = [[-VOXEL[0], 0, 0, 180], [0, -VOXEL[1], 0, 150], [0, 0, VOXEL[2], -400], [0, 0, 0, 1]];
  const files = { image: join(dir, `${id}.nii.gz`), label: join(dir, `${id}_seg.nii.gz`), id };
  writeNifti(files.image, { data: image, shape: [X, Y, Z] }, { affine });
  writeNifti(files.label, { data: label, shape: [X, Y, Z] }, { affine });
  return files;
}

/** a case after the deterministic transforms: channel-first volumes and the geometry LoadImage wrote, kept in step */
interface Sample { image: MultiChannelVolume; label: MultiChannelVolume<Uint8Array>; affine: number[][]; spacing: number[]; id: string }

/** the tutorial's transforms up to the random crop (what a CacheDataset keeps) */
function loadTransforms(): Transform[] {
  const keys = ['image', 'label'];
  return [
    new LoadImage({ keys: 'image' }),
    new LoadImage({ keys: 'label', dtype: 'uint8' }),
    new EnsureChannelFirst({ keys }),
    new ScaleIntensityRange({ keys: 'image', aMin: -57, aMax: 164, bMin: 0, bMax: 1, clip: true }),
    new CropForeground({ keys, sourceKey: 'image' }),
    new Orientation({ keys, axcodes: 'RAS' }),
    new Spacing({ keys, pixdim: [...PIXDIM], mode: ['trilinear', 'nearest'] }),
  ];
}

// ----------------------------------------------------------------------------------------- evaluation

/**
 * The tutorial's validation: sliding-window softmax (window = the crop, a quarter overlap), AsDiscrete(argmax, one-hot)
 * of the prediction and AsDiscrete(one-hot) of the label, DiceMetric (background left out) on the tensors. Returns
 * the mean Dice and each case's class map [1, X, Y, Z].
 */
async function validate(model: MonaiUNet, cases: readonly Sample[], crop: number): Promise<{ dice: number; predictions: MultiChannelVolume[] }> {
  model.eval();
  const metric = new DiceMetric({ numClasses: 2, includeBackground: false });
  const probabilities = await slidingWindowInference(cases.map((c) => c.image), (w) => noGrad(() => softmax(model.forward(w), 1)), {
    patch: [crop, crop, crop], overlap: 0.25, batchSize: 4, channels: 2,
  });
  const predictions: MultiChannelVolume[] = [];
  for (const [k, c] of cases.entries()) {
    const [, X, Y, Z] = c.label.shape;
    const classes = tidy(() => keep(new AsDiscrete({ argmax: true, dim: 1 }).apply(fromArray(probabilities[k]!.data, [1, 2, X, Y, Z]))));
    const oneHot = new AsDiscrete({ toOnehot: 2, dim: 1 });
    const [yPred, y] = tidy(() => [keep(oneHot.apply(classes)), keep(oneHot.apply(fromArray(Float32Array.from(c.label.data), [1, 1, X, Y, Z])))]);
    await metric.callBatch(yPred!, y!);
    predictions.push({ data: Float32Array.from(await classes.toArray()), shape: [1, X, Y, Z] });
    for (const t of [classes, yPred!, y!]) t.dispose();
  }
  model.train();
  return { dice: metric.aggregate(), predictions };
}

// ---------------------------------------------------------------------------------------------- main

function unetChannels(text: string, crop: number): number[] {
  const channels = text.split(',').map((v) => Number(v));
  if (channels.length < 2 || channels.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new UsageError(`--channels must be two or more positive integers separated by commas, got '${text}'`);
  }
  const factor = 2 ** (channels.length - 1);
  if (crop % factor !== 0) throw new UsageError(`--crop ${crop} must be divisible by ${factor} (${channels.length} levels)`);
  return channels;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = parseOptions('examples/spleen.ts', "Spleen segmentation with MONAI's UNet, MONAI's spleen tutorial on generated NIfTI cases (voxgrad example).", OPTIONS, argv);
  if (!o) return;
  const channels = unetChannels(o.channels, o.crop);
  // the body the foreground crop keeps, resampled to PIXDIM, must hold a crop
  const smallest = Math.min(Math.floor(0.84 * o.size * VOXEL[0] / PIXDIM[0]), Math.floor(o.slices * VOXEL[2] / PIXDIM[2]));
  if (o.crop > smallest) throw new UsageError(`--crop ${o.crop} must fit the resampled body (at most ${smallest} for --size ${o.size} and --slices ${o.slices})`);
  const files = outputFolder(o.out);
  const dataDir = join(o.out, 'data');
  mkdirSync(dataDir, { recursive: true });

  const backend = await useBackend(o.backend);
  const rng = new Rng(o.seed);
  const cases = Array.from({ length: o['train-cases'] + o['val-cases'] }, (_, i) => writeCase(dataDir, `spleen_${i}`, rng, o.size, o.slices, o.noise));
  console.log(`wrote ${cases.length} cases (${o.size}×${o.size}×${o.slices} voxels of ${VOXEL.join('×')} mm, LPS) into ${dataDir}`);
  const keys = ['image', 'label'];
  const train = new CacheDataset<Sample>(cases.slice(0, o['train-cases']), new Compose([
    ...loadTransforms(),
    new RandCropByPosNegLabel({ keys, labelKey: 'label', spatialSize: o.crop, pos: 1, neg: 1, numSamples: o.samples, imageKey: 'image', imageThreshold: 0 }),
  ]));
  // the validation transforms as one Compose, which Invert follows backwards at the end
  const valTransforms = new Compose(loadTransforms());
  const val = new CacheDataset<Sample>(cases.slice(o['train-cases']), valTransforms);
  // the validation cases once through the (deterministic) transforms: one sample each
  const valCases = Array.from({ length: val.length }, (_, i) => {
    const item = val.getItem(i);
    if (Array.isArray(item)) throw new Error(`validation case ${i} gave ${item.length} samples instead of one`);
    return item;
  });
  const loader = new DataLoader(train, { batchSize: o.batch, shuffle: true, seed: o.seed, backend, dtypes: { label: 'int32' } });

  const model = new MonaiUNet({ inChannels: 1, outChannels: 2, channels, strides: channels.slice(1).map(() => 2), numResUnits: 2, norm: 'batch', seed: o.seed });
  console.log(`MonaiUNet channels ${channels.join('/')}, ${model.numParameters()} parameters, on ${backend.name}`);
  const before = await validate(model, valCases, o.crop);
  console.log(`before training: validation Dice ${(100 * before.dice).toFixed(1)} %`);

  const lossFunction = new DiceLoss({ toOnehotY: true, softmax: true });
  const optimizer = new Adam(model.parameters(), { lr: o.lr });
  const losses: number[] = [];
  const itersPerEpoch = Math.ceil(o['train-cases'] / o.batch);
  const bar = new Progress('train', o.epochs * itersPerEpoch);
  let best = { dice: before.dice, epoch: 0 }, last = before;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    for await (const batch of loader) {
      const loss = tidy(() => {
        const value = lossFunction.forward(model.forward(batch.image), batch.label);
        backward(value);
        noGrad(() => optimizer.step());
        return keep(detach(value));
      });
      optimizer.zeroGrad();
      batch.image.dispose();
      batch.label.dispose();
      await recordLoss(loss, losses.length + 1, o.lr, losses, bar);
    }
    if (epoch % o['val-interval'] === 0 || epoch === o.epochs) {
      last = await validate(model, valCases, o.crop);
      if (last.dice > best.dice) {
        best = { dice: last.dice, epoch };
        await saveModel(join(o.out, 'best_metric_model.safetensors'), model, { epoch: String(epoch), dice: String(last.dice) });
      }
      console.log(`\nepoch ${epoch}: validation Dice ${(100 * last.dice).toFixed(1)} %, best ${(100 * best.dice).toFixed(1)} % at epoch ${best.epoch}`);
    }
  }
  bar.done();

  // the predictions as NIfTI in the cases' world space: after Orientation, Spacing and CropForeground the sample's
  // affine still maps its voxels to the scanner's coordinates
  for (const [k, c] of valCases.entries()) writeNifti(join(o.out, `${c.id}_pred.nii.gz`), last.predictions[k]!, { affine: c.affine });
  // and on the original grid: Invert replays the image's records (Spacing, Orientation, CropForeground) backwards onto the prediction
  const invert = new Invert({ keys: 'pred', transform: valTransforms, origKeys: 'image' });
  for (const [k, c] of valCases.entries()) {
    const original = invert.apply({ ...c, pred: last.predictions[k]! });
    writeNifti(join(o.out, `${c.id}_pred_original.nii.gz`), original.pred, { affine: original.affine });
  }
  await saveRun(files, model, o, 'MonaiUNet: DiceLoss (softmax, one-hot labels)', losses);
  console.log(`wrote ${files.checkpoint}, ${files.lossPlot} and the validation predictions (${valCases.map((c) => `${c.id}_pred.nii.gz`).join(', ')}; `
    + `on the original grids ${valCases.map((c) => `${c.id}_pred_original.nii.gz`).join(', ')})`);
  backend.dispose();
  console.log(finalLine('validation Dice of the spleen', before.dice, last.dice, true));
}

runExample('spleen', main);
