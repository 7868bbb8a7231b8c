// A researcher's 3-D workflow with PyTorch/MONAI habits, written only against the installed package: a small U-Net
// (Conv3d, InstanceNorm3d, BatchNorm3d, LeakyReLU/ReLU, Dropout3d, ConvTranspose3d, concatenation skips), MONAI's
// DiceCELoss, AdamW with CosineAnnealingLR, train()/eval(), a state dict saved to a file and loaded into a fresh
// model, sliding-window inference with MONAI's overlap, Dice and HD95, NIfTI out and back. Prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW, BatchNorm3d, Conv3d, ConvTranspose3d, CosineAnnealingLR, Dropout3d, InstanceNorm3d, LeakyReLU, MaxPool3d, Module,
  ReLU, Sequential, backward, concat, diceCeLoss, dispose, fromArray, initBackend, loadHostStateDict, manualSeed, memory,
  noGrad, randn, readSafetensors, saveSafetensors, tidy, type Tensor,
} from 'voxgrad';
import { dice, hd95, readNifti, slidingWindowInference, writeNifti, type Shape3 } from 'voxgrad/imaging';

await initBackend({ backend: 'cpu' });
manualSeed(0);

class ConvBlock extends Module {
  block: Sequential;
  constructor(inChannels: number, outChannels: number, dropout = 0) {
    super();
    this.block = new Sequential(
      new Conv3d(inChannels, outChannels, 3, { padding: 'same' }), new InstanceNorm3d(outChannels, { affine: true }),
      new LeakyReLU(0.1), new Dropout3d(dropout),
      new Conv3d(outChannels, outChannels, 3, { padding: 1 }), new BatchNorm3d(outChannels), new ReLU(),
    );
  }
  forward(x: Tensor): Tensor { return this.block.forward(x); }
}

class UNet extends Module {
  enc = new ConvBlock(1, 4);
  pool = new MaxPool3d(2);
  bottom = new ConvBlock(4, 8, 0.1);
  up = new ConvTranspose3d(8, 4, 2, { stride: 2 });
  dec = new ConvBlock(8, 4);
  head = new Conv3d(4, 3, 1);
  forward(x: Tensor): Tensor {
    const skip = this.enc.forward(x);
    const up = this.up.forward(this.bottom.forward(this.pool.forward(skip)));
    return this.head.forward(this.dec.forward(concat([skip, up], 1)));
  }
}

// a ball (class 1) and a box (class 2) in a noisy 8³ volume, the ball moving with the case
const side = 8, shape: Shape3 = [side, side, side], n = side ** 3;
function makeCase(k: number): { image: Float32Array; label: Uint8Array } {
  const image = new Float32Array(n), label = new Uint8Array(n), c = 3 + (k % 2);
  for (let i = 0; i < n; i++) {
    const x = Math.floor(i / side / side), y = Math.floor(i / side) % side, z = i % side;
    label[i] = (x - c) ** 2 + (y - 3) ** 2 + (z - 3) ** 2 < 5 ? 1 : x > 5 && y < 3 && z > 1 && z < 6 ? 2 : 0;
    image[i] = label[i]! * 0.6 + 0.3 * Math.sin((i + k) * 12.9898);
  }
  return { image, label };
}

const model = new UNet();
const probe = randn([1, 1, side, side, side]);
const iterations = 4;
const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 1e-4 });
const scheduler = new CosineAnnealingLR(optimizer, iterations);
const losses: number[] = [], lrs: number[] = [], live: number[] = [];
model.train();
for (let it = 0; it < iterations; it++) {
  const { image, label } = makeCase(it);
  const loss = tidy(() => {
    const logits = model.forward(fromArray(image, [1, 1, ...shape]));
    return diceCeLoss(logits, fromArray(label, [1, 1, ...shape], { dtype: 'int32' }), { toOnehotY: true, softmax: true });
  });
  backward(loss);
  optimizer.step();
  optimizer.zeroGrad();
  scheduler.step();
  losses.push(await loss.item());
  lrs.push(scheduler.getLastLr()[0]!);
  loss.dispose();
  live.push(memory().liveTensors);
}

// torch.save(model.state_dict(), path) and load_state_dict(torch.load(path)) into a fresh model
const dir = mkdtempSync(join(tmpdir(), 'voxgrad-unet-'));
const state = model.stateDict();
await saveSafetensors(join(dir, 'unet.safetensors'), state);
dispose([...state.values()]);
const fresh = new UNet();
loadHostStateDict(fresh, (await readSafetensors(join(dir, 'unet.safetensors'))).tensors);
model.eval();
fresh.eval();
const [a, b] = noGrad(() => tidy(() => [model.forward(probe), fresh.forward(probe)]));
const reloadEqual = JSON.stringify(Array.from(await a!.toArray())) === JSON.stringify(Array.from(await b!.toArray()));
dispose([a!, b!, probe]);

const { image, label } = makeCase(7);
const probabilities = await slidingWindowInference({ data: image, shape }, (windows) => fresh.forward(windows).softmax(1),
  { patch: [4, 4, 4], overlap: 0.5, channels: 3, mode: 'gaussian' });
const classes = tidy(() => fromArray(probabilities.data, probabilities.shape).argmax(0));
const prediction = Uint8Array.from(await classes.toArray());
classes.dispose();
const foreground = (v: Uint8Array, c: number) => v.map((k) => (k === c ? 1 : 0));
const ball = dice(foreground(prediction, 1), foreground(label, 1));
const ballHd95 = ball > 0 ? hd95(foreground(prediction, 1), foreground(label, 1), shape) : null;
writeNifti(join(dir, 'prediction.nii.gz'), { data: prediction, shape });
const nifti = await readNifti(join(dir, 'prediction.nii.gz'));
rmSync(dir, { recursive: true, force: true });

console.log(JSON.stringify({
  losses, lrs, live, reloadEqual, ball, ballHd95,
  probabilityShape: probabilities.shape,
  niftiSame: nifti.info.datatype === 'uint8' && nifti.volume.data.every((v, i) => v === prediction[i]),
}));
