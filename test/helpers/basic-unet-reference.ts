import { avgPool3d, concat, conv3d, convTranspose3d, instanceNorm, interpolate, leakyRelu, pad } from '../../src/autograd/index.js';
import { pixelShuffle3d, type BasicUNetUpsample, type Module } from '../../src/models/index.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu } from './backends.js';

/**
 * What BasicUNet's tests and BasicUNetPlusPlus's share: the state-dict keys and shapes of MONAI's TwoConv and UpSample,
 * and those blocks written out with the functional ops (instance norm, LeakyReLU 0.1), reading the weights by their
 * MONAI names, and the data of their training tests.
 */

export type KeyShapes = [string, number[]][];

/** a TwoConv `p` of a → b channels: conv_0 and conv_1, each a 3³ convolution with a bias and an affine instance norm */
export function twoConvKeys(p: string, a: number, b: number): KeyShapes {
  const conv = (q: string, i: number, o: number): KeyShapes => [
    [`${q}.conv.weight`, [o, i, 3, 3, 3]], [`${q}.conv.bias`, [o]], [`${q}.adn.N.weight`, [o]], [`${q}.adn.N.bias`, [o]],
  ];
  return [...conv(`${p}.conv_0`, a, b), ...conv(`${p}.conv_1`, b, b)];
}

/** the upsampling of UpCat `p` from a to b channels in `mode` */
export function upsampleKeys(mode: BasicUNetUpsample, p: string, a: number, b: number): KeyShapes {
  if (mode === 'deconv') return [[`${p}.upsample.deconv.weight`, [a, b, 2, 2, 2]], [`${p}.upsample.deconv.bias`, [b]]];
  if (mode === 'nontrainable') return a === b ? [] : [[`${p}.upsample.preconv.weight`, [b, a, 1, 1, 1]], [`${p}.upsample.preconv.bias`, [b]]];
  return [[`${p}.upsample.pixelshuffle.conv_block.weight`, [8 * b, a, 3, 3, 3]], [`${p}.upsample.pixelshuffle.conv_block.bias`, [8 * b]]];
}

/** the blocks of `net` (a BasicUNet or BasicUNetPlusPlus with MONAI's default act and norm) written out with the functional ops */
export function basicUNetBlocksByHand(net: Module & { upsample: BasicUNetUpsample }): {
  /** TwoConv `key` */
  two(t: Tensor, key: string): Tensor;
  /** UpCat `key`: `below` upsampled, replicate-padded at the end of an axis to the skips' size, after the skips, then its TwoConv */
  upcat(below: Tensor, skips: readonly Tensor[], key: string): Tensor;
} {
  const w = (key: string) => net.getParameter(key);
  const cna = (t: Tensor, key: string) => leakyRelu(instanceNorm(conv3d(t, w(`${key}.conv.weight`), w(`${key}.conv.bias`), { padding: 1 }),
    { weight: w(`${key}.adn.N.weight`), bias: w(`${key}.adn.N.bias`) }), 0.1);
  const two = (t: Tensor, key: string) => cna(cna(t, `${key}.conv_0`), `${key}.conv_1`);
  const up = (t: Tensor, p: string): Tensor => {
    if (net.upsample === 'deconv') return convTranspose3d(t, w(`${p}.deconv.weight`), w(`${p}.deconv.bias`), { stride: 2 });
    if (net.upsample === 'nontrainable') {
      const pre = net.stateSpec().has(`${p}.preconv.weight`) ? conv3d(t, w(`${p}.preconv.weight`), w(`${p}.preconv.bias`)) : t;
      return interpolate(pre, { scaleFactor: 2, mode: 'trilinear', alignCorners: true });
    }
    const shuffled = pixelShuffle3d(conv3d(t, w(`${p}.pixelshuffle.conv_block.weight`), w(`${p}.pixelshuffle.conv_block.bias`), { padding: 1 }), 2);
    return avgPool3d(pad(shuffled, [1, 0, 1, 0, 1, 0]), 2, { stride: 1 });
  };
  const upcat = (below: Tensor, skips: readonly Tensor[], key: string): Tensor => {
    let u = up(below, `${key}.upsample`);
    const pads = [4, 3, 2].flatMap((a) => [0, skips[0].shape[a] - u.shape[a]]);
    if (pads.some((v) => v !== 0)) u = pad(u, pads, { mode: 'replicate' });
    return two(concat([...skips, u], 1), `${key}.convs`);
  };
  return { two, upcat };
}

/** a noisy ellipsoid: a [1, 1, 32, 16, 16] image and its [1, 32, 16, 16] label, on cpu (the smallest size four poolings leave 2 voxels of) */
export function ellipsoidSegmentation(): { image: Tensor; target: Tensor } {
  const [d, h, w] = [32, 16, 16];
  const label = Int32Array.from({ length: d * h * w }, (_, i) => {
    const [z, y, x] = [Math.floor(i / (h * w)), Math.floor(i / w) % h, i % w];
    return ((z - 14) / 8) ** 2 + ((y - 7) / 4) ** 2 + ((x - 8) / 5) ** 2 < 1 ? 1 : 0;
  });
  const image = fromArray(Float32Array.from(label, (v, i) => v + 0.3 * Math.sin(i * 12.9898)), [1, 1, d, h, w], { backend: cpu });
  return { image, target: fromArray(label, [1, d, h, w], { backend: cpu }) };
}
