/**
 * `npx tsx examples/registration.ts [options]` — unsupervised deformable registration as VoxelMorph does it.
 * A small U-Net maps a (moving, fixed) pair to a dense displacement field (in voxels, MONAI's DDF: channel i along
 * spatial axis i); `warp` (MONAI's Warp) samples the moving image there; the loss is a dissimilarity (MSE, MONAI's
 * local NCC or global mutual information) of the warped image and the fixed one plus λ times a smoothness of the
 * displacement (VoxelMorph's mean squared forward difference, or MONAI's diffusion or bending energy). With
 * --integration-steps the network predicts a stationary velocity field, integrated by scaling and squaring
 * (`dvf2ddf`, MONAI's DVF2DDF; VoxelMorph's diffeomorphic variant). Data, as VoxelMorph's atlas-based registration: one generated labelled
 * atlas (three structures) is the fixed image; each moving image is a random smooth deformation of it. Evaluated on held-out pairs by the Dice of the
 * moving labels warped with 'nearest' against the fixed labels, and the fraction of voxels where the
 * deformation's Jacobian determinant is ≤ 0 (folding). With --train-pairs the network trains on a fixed set
 * of pairs (VoxelMorph's setting) instead of a fresh pair each time, and --eval-pairs 0 evaluates on that set.
 * The last line printed is one JSON object {"metric", "before", "after", "better"} (mean Dice of the structures).
 */
import {
  add, AdamW, assign, avgPool3d, backward, bendingEnergyLoss, cosineLr, detach, diffusionLoss, dvf2ddf, fromArray, globalMutualInformationLoss, interpolate,
  keep, localNormalizedCrossCorrelationLoss, mean, mulScalar, noGrad, reshape, slice, square, sub, tidy, warp, type Tensor,
} from 'voxgrad';
import { dice, Progress, Rng, type Volume } from 'voxgrad/imaging';
import {
  BACKEND_OPTION, finalLine, outputFolder, parseOptions, recordLoss, runExample, saveRun, UNet, unetFeatures, UsageError, useBackend, type UpsampleMode,
} from './common.js';

const OPTIONS = {
  iters: { value: 150, integer: true, min: 1, help: 'training iterations' },
  batch: { value: 2, integer: true, min: 1, help: 'pairs per iteration (freshly generated)' },
  size: { value: 16, integer: true, min: 8, help: 'volume extent (size³; divisible by 2^(levels−1))' },
  'train-pairs': { value: 0, integer: true, min: 0, help: 'a fixed training set of this many pairs, cycled (0: a fresh pair every time)' },
  'eval-pairs': { value: 4, integer: true, min: 0, help: 'held-out pairs (0: evaluate on the training pairs, which needs --train-pairs)' },
  deformation: { value: 2, min: 0, help: 'largest displacement of each random deformation, in voxels' },
  similarity: { value: 'mse', choices: ['mse', 'ncc', 'mi'], help: 'image dissimilarity (ncc: MONAI local NCC, mi: MONAI global mutual information)' },
  window: { value: 5, integer: true, min: 3, help: 'local NCC window (odd)' },
  smoothness: { value: 'gradient', choices: ['gradient', 'diffusion', 'bending'], help: "the displacement's regularizer (gradient: VoxelMorph's; diffusion, bending: MONAI's)" },
  lambda: { value: 0.01, min: 0, help: 'weight of the displacement smoothness' },
  'integration-steps': { value: 0, integer: true, min: 0, help: 'scaling-and-squaring steps of a predicted velocity field (0: the network predicts the displacement)' },
  features: { value: '4,8,8', help: 'U-Net channels per level, finest first' },
  upsample: { value: 'trilinear', choices: ['deconv', 'trilinear'], help: 'U-Net upsampling' },
  lr: { value: 0.01, min: 0, help: 'peak learning rate (cosine to 1% of it)' },
  'weight-decay': { value: 1e-4, min: 0, help: 'AdamW weight decay' },
  seed: { value: 1, integer: true, help: 'seed of the data and the weights' },
  out: { value: 'runs/registration', help: 'output folder' },
  backend: BACKEND_OPTION,
};

// --------------------------------------------------------------------------------------------- the data

interface Pair { moving: Volume; fixed: Volume; movingLabel: Uint8Array; fixedLabel: Uint8Array }

const STRUCTURES = 3;

/** A labelled volume S³: three overlapping ellipsoids of different intensities on a dark background. */
function drawAtlas(rng: Rng, S: number): { image: Float32Array; label: Uint8Array } {
  const image = new Float32Array(S ** 3), label = new Uint8Array(S ** 3);
  const ellipsoids = Array.from({ length: STRUCTURES }, (_, k) => ({
    c: [0, 1, 2].map(() => rng.uniform(0.3, 0.7) * (S - 1)),
    r: [0, 1, 2].map(() => rng.uniform(0.2, 0.32) * S / (1 + 0.2 * k)),
    v: [1, 0.6, 0.3][k],
  }));
  let i = 0;
  for (let x = 0; x < S; x++) for (let y = 0; y < S; y++) for (let z = 0; z < S; z++, i++) {
    ellipsoids.forEach((e, k) => {
      if ([x, y, z].reduce((s, v, a) => s + ((v - e.c[a]) / e.r[a]) ** 2, 0) <= 1) { label[i] = k + 1; image[i] = e.v; }
    });
  }
  return { image, label };
}

/**
 * A random smooth displacement [1, 3, S, S, S] in voxels (channel i along spatial axis i): uniform values on a 3³ lattice, upsampled trilinearly, scaled so that the largest component is `amplitude`.
 */
function randomDisplacement(rng: Rng, S: number, amplitude: number): Tensor {
  return tidy(() => {
    const coarse = fromArray(Array.from({ length: 3 * 3 ** 3 }, () => rng.uniform(-1, 1)), [1, 3, 3, 3, 3]);
    return mulScalar(interpolate(coarse, { size: S, mode: 'trilinear', alignCorners: true }), amplitude);
  });
}

/** The atlas as the pairs use it: the image plus a smooth texture, with soft edges (a 3³ box blur, so that the
 * similarity's gradient reaches a voxel beyond each edge), and the labels. */
async function makeAtlas(rng: Rng, S: number): Promise<{ image: Float32Array; label: Uint8Array }> {
  const atlas = drawAtlas(rng, S);
  const image = tidy(() => {
    // a smooth texture over everything (tissue is not flat): every voxel then tells where it came from
    const texture = mulScalar(slice(randomDisplacement(rng, S, 1), 1, 0, 1), 0.25);
    return avgPool3d(add(fromArray(atlas.image, [1, 1, S, S, S]), texture), 3, { stride: 1, padding: 1 });
  });
  const data = await image.toArray();
  image.dispose();
  return { image: Float32Array.from(data), label: atlas.label };
}

/** A pair for atlas-based registration: moving = the atlas under a random smooth deformation, fixed = the atlas. */
async function makePair(atlas: { image: Float32Array; label: Uint8Array }, rng: Rng, S: number, amplitude: number): Promise<Pair> {
  const [image, label] = [atlas.image, Float32Array.from(atlas.label)].map((a) => fromArray(a, [1, 1, S, S, S]));
  const u = randomDisplacement(rng, S, amplitude);
  const [i, l] = noGrad(() => [warp(image, u), warp(label, u, { mode: 'nearest' })]);
  const moving = Float32Array.from(await i.toArray()), movingLabel = Uint8Array.from(await l.toArray());
  for (const t of [image, label, u, i, l]) t.dispose();
  return { moving: { data: moving, shape: [S, S, S] }, fixed: { data: atlas.image, shape: [S, S, S] }, movingLabel, fixedLabel: atlas.label };
}

// --------------------------------------------------------------------------------------------- the loss

/** VoxelMorph's 'l2' gradient loss: the mean squared forward difference of u along each axis, averaged. */
function gradientLoss(u: Tensor): Tensor {
  const diffs = [2, 3, 4].map((a) => mean(square(sub(slice(u, a, 1), slice(u, a, 0, u.shape[a] - 1)))));
  return mulScalar(add(add(diffs[0], diffs[1]), diffs[2]), 1 / 3);
}

function dissimilarity(warped: Tensor, fixed: Tensor, kind: string, window: number): Tensor {
  if (kind === 'ncc') return localNormalizedCrossCorrelationLoss(warped, fixed, { kernelSize: window });
  if (kind === 'mi') return globalMutualInformationLoss(warped, fixed);
  return mean(square(sub(warped, fixed)));
}

function smoothness(u: Tensor, kind: string): Tensor {
  if (kind === 'diffusion') return diffusionLoss(u);
  if (kind === 'bending') return bendingEnergyLoss(u);
  return gradientLoss(u);
}

/** The displacement of a (moving, fixed) batch: the network's output, or its integral as a velocity field. */
function displacementOf(model: UNet, input: Tensor, integrationSteps: number): Tensor {
  const out = model.forward(input);
  return integrationSteps > 0 ? dvf2ddf(out, { numSteps: integrationSteps }) : out;
}

// ----------------------------------------------------------------------------------------- evaluation

function pairTensor(pairs: readonly Pair[]): Tensor {
  const S = pairs[0].moving.shape[0], n = S ** 3;
  const data = new Float32Array(pairs.length * 2 * n);
  pairs.forEach((p, b) => { data.set(p.moving.data, 2 * b * n); data.set(p.fixed.data, (2 * b + 1) * n); });
  return fromArray(data, [pairs.length, 2, S, S, S]);
}

/** The fraction of voxels where det(I + ∇u) ≤ 0 (central differences inside, one-sided at the faces). */
function foldingFraction(u: ArrayLike<number>, S: number): number {
  const n = S ** 3, at = (c: number, x: number, y: number, z: number) => u[c * n + (x * S + y) * S + z];
  // ∂u_c/∂axis; channel c moves along axis c (D: x here, H: y, W: z)
  const derivative = (c: number, axis: number, p: number[]) => {
    const lo = [...p], hi = [...p];
    lo[axis] = Math.max(p[axis] - 1, 0);
    hi[axis] = Math.min(p[axis] + 1, S - 1);
    return (at(c, hi[0], hi[1], hi[2]) - at(c, lo[0], lo[1], lo[2])) / (hi[axis] - lo[axis]);
  };
  let folded = 0;
  for (let x = 0; x < S; x++) for (let y = 0; y < S; y++) for (let z = 0; z < S; z++) {
    // rows: displacement components = channels; columns: axes D, H, W
    const J = [0, 1, 2].map((c) => [0, 1, 2].map((axis) => derivative(c, axis, [x, y, z]) + (c === axis ? 1 : 0)));
    const det = J[0][0] * (J[1][1] * J[2][2] - J[1][2] * J[2][1]) - J[0][1] * (J[1][0] * J[2][2] - J[1][2] * J[2][0])
      + J[0][2] * (J[1][0] * J[2][1] - J[1][1] * J[2][0]);
    if (det <= 0) folded++;
  }
  return folded / n;
}

interface Scores { dice: number; folding: number; displacement: number }

/** Mean over pairs and structures of the Dice of the warped moving labels (nearest) against the fixed ones. */
async function evaluate(model: UNet, pairs: readonly Pair[], integrationSteps: number): Promise<Scores> {
  model.eval();
  const S = pairs[0].moving.shape[0];
  const dices: number[] = [];
  let folding = 0, displacement = 0;
  for (const p of pairs) {
    const [warped, u] = tidy(() => noGrad(() => {
      const flow = displacementOf(model, pairTensor([p]), integrationSteps);
      return [keep(warp(fromArray(Float32Array.from(p.movingLabel), [1, 1, S, S, S]), flow, { mode: 'nearest' })), keep(flow)];
    }));
    const labels = await warped.toArray(), flow = await u.toArray();
    warped.dispose();
    u.dispose();
    for (let k = 1; k <= STRUCTURES; k++) {
      dices.push(dice(Uint8Array.from(labels, (v) => (v === k ? 1 : 0)), p.fixedLabel.map((v) => (v === k ? 1 : 0))));
    }
    folding += foldingFraction(flow, S) / pairs.length;
    displacement += Array.from(flow, Math.abs).reduce((m, v) => m + v, 0) / flow.length / pairs.length;
  }
  model.train();
  return { dice: dices.reduce((s, v) => s + v, 0) / dices.length, folding, displacement };
}

function report(when: string, s: Scores): void {
  console.log(`${when}: Dice ${(100 * s.dice).toFixed(1)} %, folding ${(100 * s.folding).toFixed(2)} % of voxels, mean |u| ${s.displacement.toFixed(3)} voxels`);
}

function identityDice(pairs: readonly Pair[]): number {
  const d: number[] = [];
  for (const p of pairs) for (let k = 1; k <= STRUCTURES; k++) {
    d.push(dice(p.movingLabel.map((v) => (v === k ? 1 : 0)), p.fixedLabel.map((v) => (v === k ? 1 : 0))));
  }
  return d.reduce((s, v) => s + v, 0) / d.length;
}

// ---------------------------------------------------------------------------------------------- main

async function main(argv: readonly string[]): Promise<void> {
  const o = parseOptions('examples/registration.ts', 'Unsupervised deformable registration, VoxelMorph-style (voxgrad example).', OPTIONS, argv);
  if (!o) return;
  const features = unetFeatures(o.features, o.size);
  if (o.window % 2 !== 1) throw new UsageError(`--window must be odd, got ${o.window}`);
  if (o['eval-pairs'] === 0 && o['train-pairs'] === 0) throw new UsageError('--eval-pairs 0 evaluates on the training pairs: give --train-pairs too');
  const files = outputFolder(o.out);

  const backend = await useBackend(o.backend);
  const rng = new Rng(o.seed);
  const S = o.size;
  const atlas = await makeAtlas(rng, S);
  const trainingSet: Pair[] = [], heldOut: Pair[] = [];
  for (let i = 0; i < o['train-pairs']; i++) trainingSet.push(await makePair(atlas, rng, S, o.deformation));
  for (let i = 0; i < o['eval-pairs']; i++) heldOut.push(await makePair(atlas, rng, S, o.deformation));
  const evaluated = heldOut.length > 0 ? heldOut : trainingSet;
  const setName = heldOut.length > 0 ? 'held-out pairs' : 'training pairs';
  const model = new UNet({ inChannels: 2, outChannels: 3, features, upsample: o.upsample as UpsampleMode });
  // VoxelMorph starts from a near-zero flow (its flow layer's weights ~ N(0, 1e-5)): the identity, not a random warp
  noGrad(() => {
    assign(model.head.weight, mulScalar(model.head.weight, 1e-3));
    if (model.head.bias) assign(model.head.bias, mulScalar(model.head.bias, 0));
  });
  console.log(`registration U-Net ${features.join('/')} (${o.upsample}), ${model.numParameters()} parameters, on ${backend.name}`);
  console.log(`${setName} without registration (identity): Dice ${(100 * identityDice(evaluated)).toFixed(1)} %`);
  const before = await evaluate(model, evaluated, o['integration-steps']);
  report(`before training, ${setName}`, before);

  const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o['weight-decay'] });
  const losses: number[] = [];
  const bar = new Progress('train', o.iters);
  for (let it = 0; it < o.iters; it++) {
    optimizer.lr = cosineLr(it, { baseLr: o.lr, maxIterations: o.iters, minLr: o.lr / 100 });
    const pairs: Pair[] = [];
    for (let b = 0; b < o.batch; b++) {
      pairs.push(trainingSet.length > 0 ? trainingSet[(it * o.batch + b) % trainingSet.length] : await makePair(atlas, rng, S, o.deformation));
    }
    const loss = tidy(() => {
      const input = pairTensor(pairs);
      const moving = slice(input, 1, 0, 1), fixed = slice(input, 1, 1, 2);
      const u = displacementOf(model, input, o['integration-steps']);
      const total = add(dissimilarity(warp(moving, u), fixed, o.similarity, o.window), mulScalar(smoothness(u, o.smoothness), o.lambda));
      backward(total);
      noGrad(() => optimizer.step());
      optimizer.zeroGrad();
      return keep(detach(reshape(total, [1])));
    });
    await recordLoss(loss, it + 1, optimizer.lr, losses, bar);
  }
  bar.done();

  const after = await evaluate(model, evaluated, o['integration-steps']);
  report(`after training, ${setName}`, after);
  await saveRun(files, model, o, `registration: ${o.similarity} + ${o.lambda}·${o.smoothness}`, losses);
  console.log(`wrote ${files.checkpoint} and ${files.lossPlot}`);
  backend.dispose();
  console.log(finalLine(`mean structure Dice (${setName})`, before.dice, after.dice, true));
}

runExample('registration', main);
