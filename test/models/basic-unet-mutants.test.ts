import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/index.js';
import {
  BasicUNet, ConstantPad3d, MonaiConvolution, SubpixelUpsample, init, pixelShuffle3d, type BasicUNetUpsample,
} from '../../src/models/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { dispose, fromArray, zeros, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/basic-unet.ts found untested (stryker.config.mjs): every convolution's seed
 * derived from the network's seed and its module path, ConstantPad3d's value, SubpixelUpsample's bias option and
 * ICNR seed and backend, the dropout check, pixelShuffle3d's and the forward's rank checks.
 */

/** a cpu backend other than the default one: a layer built on it proves its tensors were made there */
const other = new CpuBackend();

describe('BasicUNet (mutation tests)', () => {
  it.each(['deconv', 'nontrainable', 'pixelshuffle'] as const)("each convolution is seeded from the seed and its module path (upsample '%s')", async (upsample: BasicUNetUpsample) => {
    const net = new BasicUNet({ features: [2, 3, 4, 5, 6, 2], seed: 3, backend: cpu, upsample });
    // a Convolution (and SubpixelUpsample) is built with the seed of its path and seeds its layers from it; the ICNR
    // kernel replaces conv_block's weight (its own test is in basic-unet.test.ts)
    const checked = await expectConvSeedsFromPaths(net, 3, (m) => m instanceof MonaiConvolution || m instanceof SubpixelUpsample,
      (path) => path.endsWith('.pixelshuffle.conv_block'));
    // 9 TwoConvs, final_conv and the four upsamplings' convolutions, 'nontrainable' has none in upcat_1 (3 → 3 channels)
    expect(checked).toBe(18 + 1 + (upsample === 'nontrainable' ? 3 : 4));
    net.dispose();
  });

  it("SubpixelUpsample's ICNR kernel is the He-normal draw of its seed ('conv_block.icnr'), made on the layer's backend", async () => {
    const up = new SubpixelUpsample(2, 3, { seed: 4, backend: other });
    expect(up.convBlock.weight.backend).toBe(other);
    const kernel = init.kaimingNormal_(zeros([3, 2, 3, 3, 3], { backend: cpu }), { seed: deriveSeed(deriveSeed(4, 'conv_block'), 'icnr') });
    const drawn = init.kaimingNormal_(zeros([3, 2, 3, 3, 3], { backend: cpu }), { seed: deriveSeed(4, 'conv_block.icnr') });
    const sorted = async (t: Tensor) => Array.from(await t.toArray()).sort((a, b) => a - b);
    // every value of the draw appears 8 times in the weight (the eight sub-positions), and no other value
    expect((await sorted(up.convBlock.weight)).filter((_, i) => i % 8 === 0)).toEqual(await sorted(drawn));
    expect(await sorted(drawn)).not.toEqual(await sorted(kernel));
    dispose([kernel, drawn]);
    up.dispose();
  });

  it('refuses a dropout that is not a number in [0, 1] and an input that is not 5-D, by name', () => {
    expect(() => new BasicUNet({ dropout: '0.5' as unknown as number })).toThrow(/^BasicUNet: dropout must be in \[0, 1\], got 0.5$/);
    expect(() => new BasicUNet({ dropout: 1.5 })).toThrow(/^BasicUNet: dropout must be in \[0, 1\], got 1.5$/);
    const net = new BasicUNet({ features: [2, 2, 2, 2, 2, 2], dropout: 1, seed: 1, backend: cpu });
    const x = fromArray(new Float32Array(256), [1, 1, 16, 16], { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^BasicUNet: input must be \[N, 1, D, H, W\], got \[1, 1, 16, 16\]$/);
    x.dispose();
    net.dispose();
  });

  it('ConstantPad3d pads with its value; SubpixelUpsample without bias; pixelShuffle3d refuses an input that is not 5-D', async () => {
    const x = fromArray([1, 2], [1, 1, 1, 1, 2], { backend: cpu });
    const pad = new ConstantPad3d([1, 0, 0, 0, 0, 1], -3);
    const y = pad.forward(x);
    expect(y.shape).toEqual([1, 1, 2, 1, 3]);
    expect(Array.from(await y.toArray())).toEqual([-3, 1, 2, -3, -3, -3]);
    expect(String(pad)).toMatch(/^ConstantPad3d\(padding=\(1, 0, 0, 0, 0, 1\), value=-3\.0\)/);
    const up = new SubpixelUpsample(2, 3, { bias: false, seed: 1, backend: cpu });
    expect([up.convBlock.bias, up.convBlock.weight.shape]).toEqual([null, [24, 2, 3, 3, 3]]);
    const z = noGrad(() => up.forward(fromArray(new Float32Array(2 * 8), [1, 2, 2, 2, 2], { backend: cpu })));
    expect(z.shape).toEqual([1, 3, 4, 4, 4]);
    const flat = fromArray(new Float32Array(32), [1, 8, 2, 2], { backend: cpu });
    expect(() => pixelShuffle3d(flat, 2)).toThrow(/^pixelShuffle3d: input must be \[N, C, D, H, W\] with C divisible by factor³ = 8, got \[1, 8, 2, 2\]$/);
    dispose([x, y, z, flat]);
    up.dispose();
  });
});
