// A BraTS-like multi-region workflow with MONAI habits, written only against the installed package: 4 input
// modalities, 3 overlapping regions (TC, WT, ET) with sigmoid outputs, MONAI's SegResNet behind a custom
// squeeze-excitation block with a custom differentiable gate, dictionary transforms with random augmentation,
// MONAI's DiceLoss(sigmoid, squared_pred), AdamW + warm-up/cosine (LambdaLR), autocast + GradScaler, gradient
// clipping, an EMA of the weights, a training checkpoint resumed in a fresh process with identical results,
// sliding-window inference of the 4-channel image, DiceMetric and HD95 per region, the prediction and the
// regions' probabilities (4-D) as NIfTI, a state dict written as
// PyTorch's safetensors would write it, and the EMA model on WebGPU against the cpu. Prints one JSON line.
// `test/package/pack.test.ts` compiles it with the strictest tsc against the installed package and runs it there and
// on the sources; it runs itself again with `--resume DIR` as the fresh process.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AdamW, Conv3d, GradScaler, LambdaLR, Module, ReLU, SegResNet, adaptiveAvgPool3d, affine, assertGradcheck, autocast,
  backward, clipGradNorm, ema, fromArray, initBackend, loadModel, loadTrainingCheckpoint, manualSeed, memory,
  multiClassDiceLoss, mul, noGrad, record, saveTrainingCheckpoint, step as above, tidy, type Tensor,
} from 'voxgrad';
import {
  Compose, DiceMetric, HausdorffDistanceMetric, NormalizeIntensity, RandFlip, RandScaleIntensity, RandShiftIntensity,
  RandSpatialCrop, Rng, readNifti, readNiftiChannels, readVolume, slidingWindowInference, withVolumes, writeNifti,
  type MultiChannelVolume, type Shape3, type Transform, type Volume,
} from 'voxgrad/imaging';

await initBackend({ backend: 'cpu' });

/** PyTorch's hardsigmoid as one custom op: clamp(x/6 + 1/2, 0, 1), gradient 1/6 inside (−3, 3). */
function hardSigmoid(x: Tensor): Tensor {
  const y = noGrad(() => tidy(() => affine(x, 1 / 6, 0.5).clamp(0, 1)));
  return record('hardSigmoid', y, [x], (g, [xs]) => [mul(g, affine(mul(above(xs, -3), above(xs.neg(), -3)), 1 / 6, 0))], [x]);
}

/** Squeeze-and-excitation (Hu et al.): channel weights from the global average, here with the hard-sigmoid gate. */
class SqueezeExcitation extends Module {
  reduce: Conv3d;
  relu = new ReLU();
  expand: Conv3d;
  constructor(channels: number, reduction: number) {
    super();
    this.reduce = new Conv3d(channels, Math.max(1, channels / reduction), 1);
    this.expand = new Conv3d(Math.max(1, channels / reduction), channels, 1);
  }
  forward(x: Tensor): Tensor {
    const squeezed = adaptiveAvgPool3d(x, 1);
    return mul(x, hardSigmoid(this.expand.forward(this.relu.forward(this.reduce.forward(squeezed)))));
  }
}

class Net extends Module {
  se = new SqueezeExcitation(4, 2);
  segresnet = new SegResNet({ inChannels: 4, outChannels: 3, initFilters: 4, norm: ['group', { numGroups: 4 }], blocksDown: [1, 1, 1], blocksUp: [1, 1], dropoutProb: 0.2 });
  forward(x: Tensor): Tensor { return this.segresnet.forward(this.se.forward(x)); }
}

// BraTS-like cases: four modalities and a label with BraTS's values (1 necrotic core, 2 oedema, 4 enhancing)
const side = 16, shape: Shape3 = [side, side, side], n = side ** 3, P = 8, patch: Shape3 = [P, P, P];
const modalities = ['t1', 't1ce', 't2', 'flair'] as const;
const regions = ['tc', 'wt', 'et'] as const;
/** a case as MONAI loads one: the modalities as one channel-first image [4, X, Y, Z], and the label */
type Raw = { image: MultiChannelVolume; label: Volume<Uint8Array> };
type Sample = Raw & Record<(typeof regions)[number], Volume<Uint8Array>>;

function makeCase(seed: number): Raw {
  const rng = new Rng(seed);
  const c = [rng.uniform(6, 10), rng.uniform(6, 10), rng.uniform(6, 10)], r = rng.uniform(3.5, 5);
  const label = new Uint8Array(n), image = new Float32Array(modalities.length * n);
  const images = modalities.map((_, m) => image.subarray(m * n, (m + 1) * n));
  for (let i = 0; i < n; i++) {
    const x = Math.floor(i / side / side), y = Math.floor(i / side) % side, z = i % side;
    const d = Math.hypot(x - c[0]!, y - c[1]!, z - c[2]!);
    label[i] = d < 0.35 * r ? 1 : d < 0.6 * r ? 4 : d < r ? 2 : 0;
    const brain = Math.hypot(x - 7.5, y - 7.5, z - 7.5) < 7.5 ? 1 : 0;
    const tissue = [0.4, 0.3, 0.5, 0.35], boost = { 0: [0, 0, 0, 0], 1: [-0.2, 0.1, 0.6, 0.3], 2: [0.1, 0.2, 0.7, 0.9], 4: [0.2, 1.0, 0.4, 0.5] }[label[i] as 0 | 1 | 2 | 4];
    images.forEach((im, m) => { im[i] = brain ? tissue[m]! + boost[m]! + 0.1 * rng.normal() : 0; });
  }
  return { image: { data: image, shape: [modalities.length, ...shape] }, label: { data: label, shape } };
}

/** MONAI's ConvertToMultiChannelBasedOnBratsClassesd written as one's own transform, the regions as keys: TC = 1 ∪ 4, WT = 1 ∪ 2 ∪ 4, ET = 4 */
class ConvertToMultiChannelBasedOnBratsClasses implements Transform {
  constructor(readonly key: string) {}
  apply<T extends object>(data: T): T {
    const label = readVolume(data, this.key, 'ConvertToMultiChannelBasedOnBratsClasses');
    const region = (test: (v: number) => boolean): Volume<Uint8Array> => ({ data: Uint8Array.from(label.data, (v) => (test(v) ? 1 : 0)), shape: label.shape });
    return withVolumes(data, regions, [region((v) => v === 1 || v === 4), region((v) => v > 0), region((v) => v === 4)]);
  }
}

const allKeys = ['image', 'label', ...regions];
// a typed Compose nested in another as it is: the preprocessing of training and validation
const valTransforms = new Compose<Sample, false>([
  new ConvertToMultiChannelBasedOnBratsClasses('label'),
  new NormalizeIntensity({ keys: 'image', nonzero: true, channelWise: true }),
]);
const trainTransforms = new Compose<Sample, false>([
  valTransforms,
  new RandSpatialCrop({ keys: allKeys, roiSize: patch, randomSize: false }),
  new RandFlip({ keys: allKeys, prob: 0.5, spatialAxis: 0 }),
  new RandFlip({ keys: allKeys, prob: 0.5, spatialAxis: 1 }),
  new RandFlip({ keys: allKeys, prob: 0.5, spatialAxis: 2 }),
  new RandScaleIntensity({ keys: 'image', factors: 0.1, prob: 1 }),
  new RandShiftIntensity({ keys: 'image', offsets: 0.1, prob: 1 }),
]);

/** channels-first batch arrays from samples: image [B, 4, …], target [B, 3, …] */
function collate(samples: readonly Sample[], keys: readonly (keyof Sample)[]): Float32Array {
  const parts = samples.flatMap((s) => keys.map((k) => s[k].data));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const batchSize = 2, iterations = 6, warmup = 2, checkpointAt = 3;
const trainCases = [0, 1, 2, 3].map(makeCase);
const lrLambda = (epoch: number) => (epoch < warmup ? (epoch + 1) / warmup : 0.5 * (1 + Math.cos(Math.PI * (epoch - warmup) / (iterations - warmup))));

function setup(): { model: Net; teacher: Net; optimizer: AdamW; scheduler: LambdaLR; scaler: GradScaler } {
  manualSeed(0);
  const model = new Net();
  const teacher = new Net();
  teacher.loadStateDict(model.stateDict()); // copy.deepcopy(model)
  const optimizer = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 1e-5 });
  return { model, teacher, optimizer, scheduler: new LambdaLR(optimizer, lrLambda), scaler: new GradScaler({ growthInterval: 2 }) };
}

async function trainSteps(parts: ReturnType<typeof setup>, rng: Rng, from: number, to: number, losses: number[], lrs: number[] = []): Promise<void> {
  const { model, teacher, optimizer, scheduler, scaler } = parts;
  model.train();
  for (let it = from; it < to; it++) {
    const samples = [0, 1].map((b) => trainTransforms.apply(trainCases[(it * batchSize + b) % trainCases.length]!, rng));
    const loss = tidy(() => autocast(() => {
      const logits = model.forward(fromArray(collate(samples, ['image']), [batchSize, 4, ...patch]));
      const target = fromArray(collate(samples, regions), [batchSize, 3, ...patch]);
      return multiClassDiceLoss(logits, target, { sigmoid: true, squaredPred: true, smoothNr: 0, smoothDr: 1e-5 });
    }, { dtype: 'float16' }));
    backward(scaler.scale(loss)); // the scaler frees the scaled loss at update()
    scaler.unscale(optimizer);
    await clipGradNorm(model.parameters(), 1);
    await scaler.step(optimizer);
    scaler.update();
    optimizer.zeroGrad();
    scheduler.step();
    ema(teacher, model, 0.9, { buffers: 'copy' });
    losses.push(await loss.item());
    lrs.push(scheduler.getLastLr()[0]!);
    loss.dispose();
  }
}

/** a digest of the parameters' float32 bits: equal digests, identical weights */
async function digest(model: Module): Promise<string> {
  const hash = createHash('sha256');
  for (const p of model.parameters()) hash.update(new Uint8Array((await p.toArray()).buffer));
  return hash.digest('hex');
}

/** the fresh process: a fresh model, optimizer, scheduler, scaler, teacher and generator, restored from the checkpoint */
async function resume(dir: string): Promise<void> {
  const parts = setup();
  const rng = new Rng(0);
  const { iteration } = await loadTrainingCheckpoint(join(dir, 'train.safetensors'), { ...parts, extraModels: { ema: parts.teacher }, rng });
  const losses: number[] = [];
  await trainSteps(parts, rng, iteration, iterations, losses);
  console.log(JSON.stringify({ losses, weights: await digest(parts.model), teacher: await digest(parts.teacher), scale: await parts.scaler.getScale() }));
}

async function main(): Promise<void> {
await assertGradcheck(hardSigmoid, [{ data: [-4, -2.5, -0.5, 0, 0.7, 2.9, 5], shape: [7] }]);

const work = mkdtempSync(join(tmpdir(), 'voxgrad-brats-'));
const parts = setup();
const rng = new Rng(7);
const losses: number[] = [];
const lrs: number[] = [];
await trainSteps(parts, rng, 0, checkpointAt, losses, lrs);
// torch.save({'model', 'optimizer', 'scheduler', 'scaler', 'ema', 'epoch'}) plus the generator (the dropout layers' state comes along)
await saveTrainingCheckpoint(join(work, 'train.safetensors'), {
  model: parts.model, optimizer: parts.optimizer, scheduler: parts.scheduler, scaler: parts.scaler, extraModels: { ema: parts.teacher },
  iteration: checkpointAt, rng,
});
const liveBefore = memory().liveTensors;
await trainSteps(parts, rng, checkpointAt, iterations, losses, lrs);
const liveAfter = memory().liveTensors;
const resumed = JSON.parse(execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--resume', work], { encoding: 'utf8' }).trim()) as
  { losses: number[]; weights: string; teacher: string; scale: number };
const resumeIdentical = JSON.stringify(resumed.losses) === JSON.stringify(losses.slice(checkpointAt))
  && resumed.weights === await digest(parts.model)
  && resumed.teacher === await digest(parts.teacher)
  && resumed.scale === await parts.scaler.getScale();
const scale = await parts.scaler.getScale();

// sliding-window inference of a held-out case with the EMA model: the modalities as one channels-first image
// [4, X, Y, Z] (MONAI's [C, H, W, D]), windows [n, 4, …patch], the regions' probabilities [3, X, Y, Z], > 0.5 per region
const raw = makeCase(99);
const input = valTransforms.apply(raw), label = raw.label.data;
const teacher = parts.teacher.eval();
const probabilities = await slidingWindowInference(input.image, (windows) => teacher.forward(windows).sigmoid(), { patch, stride: [4, 4, 4], channels: regions.length });
const predicted = regions.map((_, c) => Uint8Array.from(probabilities.data.subarray(c * n, (c + 1) * n), (p) => (p > 0.5 ? 1 : 0)));
const dice = regions.map(() => new DiceMetric());
const hd95 = regions.map(() => new HausdorffDistanceMetric());
const perRegion = Object.fromEntries(regions.map((r, c) => [r, {
  dice: dice[c]!.call(predicted[c]!, input[r].data, shape),
  hd95: hd95[c]!.call(predicted[c]!, input[r].data, shape, [1, 1, 1]),
}]));

// the BraTS label map back from the regions (ET → 4, TC \ ET → 1, WT \ TC → 2), written as NIfTI
const labelMap = Uint8Array.from({ length: n }, (_, v) => (predicted[2]![v] ? 4 : predicted[0]![v] ? 1 : predicted[1]![v] ? 2 : 0));
writeNifti(join(work, 'prediction.nii.gz'), { data: labelMap, shape }, { affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] });
const nifti = await readNifti(join(work, 'prediction.nii.gz'));
// the probabilities as MONAI's SaveImage writes them, channel last: a 4-D NIfTI [X, Y, Z, 3], read back channels first
writeNifti(join(work, 'probabilities.nii.gz'), probabilities);
const probabilitiesBack = (await readNiftiChannels(join(work, 'probabilities.nii.gz'))).image;

// a state dict as `safetensors.torch.save_file(model.state_dict(), path)` writes it: header JSON, little-endian F32
const fresh = new SegResNet({ inChannels: 4, outChannels: 3, initFilters: 4, norm: ['group', { numGroups: 4 }], blocksDown: [1, 1, 1], blocksUp: [1, 1] });
const spec = [...fresh.stateSpec()];
const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
let offset = 0;
for (const [name, { shape: s }] of spec) {
  const bytes = 4 * s.reduce((a, b) => a * b, 1);
  header[name] = { dtype: 'F32', shape: s, data_offsets: [offset, offset + bytes] };
  offset += bytes;
}
const json = Buffer.from(JSON.stringify(header));
const file = Buffer.alloc(8 + json.length + offset);
file.writeBigUInt64LE(BigInt(json.length));
json.copy(file, 8);
for (let i = 0; i < offset / 4; i++) file.writeFloatLE(Math.sin(i) / 10, 8 + json.length + 4 * i);
writeFileSync(join(work, 'torch.safetensors'), file);
await loadModel(join(work, 'torch.safetensors'), fresh);
const firstWeights = Array.from((await fresh.parameters()[0]!.toArray()).slice(0, 3));
rmSync(work, { recursive: true, force: true });

// the EMA model moved to WebGPU in place (PyTorch's model.to(device)), the whole case at once
const volume = input.image.data;
const onCpu = await noGrad(() => tidy(() => teacher.forward(fromArray(volume, [1, 4, ...shape])).sigmoid())).toArray();
await teacher.to(await initBackend({ backend: 'webgpu' }));
const onGpu = await noGrad(() => tidy(() => teacher.eval().forward(fromArray(volume, [1, 4, ...shape])).sigmoid())).toArray();
const webgpuMaxDiff = onCpu.reduce((a, v, i) => Math.max(a, Math.abs(v - onGpu[i]!)), 0);

console.log(JSON.stringify({
  losses, lrs, scale, resumeIdentical, liveBefore, liveAfter, perRegion, labels: [...new Set(label)].sort(),
  niftiSame: nifti.volume.data.every((v, i) => v === labelMap[i]),
  probabilitiesNiftiSame: JSON.stringify(probabilitiesBack.shape) === JSON.stringify([3, ...shape]) && probabilitiesBack.data.every((v, i) => v === probabilities.data[i]),
  firstWeights, webgpuMaxDiff,
}));
}

const [mode, dir] = process.argv.slice(2);
await (mode === '--resume' ? resume(dir!) : main());
