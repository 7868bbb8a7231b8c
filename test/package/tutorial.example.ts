import {
  BatchNorm3d, Conv3d, ConvTranspose3d, MaxPool3d, Module, ReLU, SGD, add, backward, binaryCrossEntropyWithLogits,
  diceLoss, fromArray, initBackend, loadModel, noGrad, saveModel, sigmoid, summary, tidy, type Tensor,
} from 'voxgrad';

await initBackend({ backend: 'cpu' }); // 'auto' takes WebGPU when an adapter exists

/** A two-level 3-D encoder–decoder: assigning layers to properties registers them, as in PyTorch. */
class TinyUNet extends Module {
  enc = new Conv3d(1, 8, 3, { padding: 1 });
  norm = new BatchNorm3d(8);
  relu = new ReLU();
  pool = new MaxPool3d(2);
  mid = new Conv3d(8, 8, 3, { padding: 1 });
  up = new ConvTranspose3d(8, 8, 2, { stride: 2 });
  head = new Conv3d(8, 1, 1);

  forward(x: Tensor): Tensor {
    const skip = this.relu.forward(this.norm.forward(this.enc.forward(x)));
    const deep = this.relu.forward(this.mid.forward(this.pool.forward(skip)));
    return this.head.forward(add(skip, this.up.forward(deep))); // logits [N, 1, D, H, W]
  }
}

// a ball in a noisy 16³ volume: the target is the ball
const side = 16, n = side ** 3;
const label = Float32Array.from({ length: n }, (_, i) => {
  const [z, y, x] = [Math.floor(i / side / side), Math.floor(i / side) % side, i % side];
  return (x - 8) ** 2 + (y - 7) ** 2 + (z - 8) ** 2 < 25 ? 1 : 0;
});
const image = fromArray(label.map((v, i) => v + 0.3 * Math.sin(i * 12.9898)), [1, 1, side, side, side]);
const target = fromArray(label, [1, 1, side, side, side]);

const net = new TinyUNet();
summary(net, [1, 1, side, side, side]); // each layer's output shape and parameter count, as torchinfo
const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
const losses: number[] = [];
for (let step = 0; step < 30; step++) {
  const loss = tidy(() => {
    const logits = net.forward(image);
    return add(binaryCrossEntropyWithLogits(logits, target), diceLoss(sigmoid(logits), target));
  });
  backward(loss);
  opt.step();
  opt.zeroGrad();
  losses.push(await loss.item());
  loss.dispose();
}
net.eval();
const prediction = noGrad(() => tidy(() => sigmoid(net.forward(image))));
await saveModel('tiny-unet.safetensors', net); // safetensors, written atomically; loadModel reads it back
await loadModel('tiny-unet.safetensors', new TinyUNet());
export { losses, prediction, label };
