import { describe, expect, it } from 'vitest';
import { MedNeXt, MedNeXtUpBlock, createMedNeXt, medNeXtVariantOptions } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * MONAI's MedNeXt at full width, built: the parameter counts of MONAI's default configuration and of the S, B and M
 * variant of create_mednext, built (in a file of their own, the construction of millions of weights being most of
 * the time), and of B, M and L (10 to 62 million weights, too long to draw here) as the quadratic in initFilters that
 * every count is, through three narrow builds of the variant's options.
 *
 * Counted from MONAI's layer list (every conv with bias; GroupNorm(c, c) has 2c parameters), with C the channels a
 * block starts from, e its expansion ratio and k the kernel:
 *   MedNeXtBlock(C → C)       depthwise k³ C·k³ + C, norm 2C, conv2 1³ C → eC eC² + eC, conv3 1³ eC → C eC² + C
 *                             = 2eC² + (k³ + 4 + e)C
 *   MedNeXtDownBlock(C → 2C)  the same with conv3 to 2C (2eC² + 2C): 3eC² + (k³ + 5 + e)C, residual: + res_conv 1³ C → 2C, 2C² + 2C
 *   MedNeXtUpBlock(C → C/2)   the depthwise conv transposed (weight [C, 1, k, k, k], the same count), conv3 to C/2:
 *                             3eC²/2 + (k³ + 3.5 + e)C, residual: + res_conv 1³ transposed C → C/2, C²/2 + C/2
 *   stem 1³ 1 → 32 with bias 64, out_0 1³ 32 → 2 with bias 66.
 */

/**
 * the parameter count of `variant` at 32 filters from builds at 1, 2 and 3: every term of a count is a product of
 * two channel counts, a channel count and a constant, or a constant, and every channel count is initFilters times a
 * constant, so the count is a·f² + b·f + c
 */
function quadraticCountAt32(variant: 'B' | 'M' | 'L'): number {
  const [n1, n2, n3] = [1, 2, 3].map((f) => {
    const net = new MedNeXt({ ...medNeXtVariantOptions(variant), initFilters: f, backend: cpu });
    const n = net.numParameters();
    net.dispose();
    return n;
  });
  const a = (n3 - 2 * n2 + n1) / 2, b = n2 - n1 - 3 * a, c = n1 - a - b;
  return a * 32 ** 2 + b * 32 + c;
}

describe('MedNeXt parameter counts', () => {
  it("MONAI's default MedNeXt (32 filters, kernel 7, expansion 2, no residual, blocks 2 everywhere) has 6 586 658 parameters", () => {
    // k = 7, e = 2: block 4C² + 349C, down 6C² + 350C, up 3C² + 348.5C.
    //   encoder: 2 blocks + down at C = 32, 64, 128, 256: (30 528 + 17 344) + (77 440 + 46 976) + (220 416 + 143 104) + (702 976 + 482 816)
    //   bottleneck 2 blocks at 512: 2 454 528
    //   decoder: up + 2 blocks at C = 512 (→ 256), 256, 128, 64: (964 864 + 702 976) + (285 824 + 220 416) + (93 760 + 77 440) + (34 592 + 30 528)
    //   + stem 64 + out_0 66: sum 6 586 658
    const net = new MedNeXt({ backend: cpu });
    expect([net.initFilters, net.kernelSize, net.blocksDown, net.blocksUp, net.deepSupervision]).toEqual([32, 7, [2, 2, 2, 2], [2, 2, 2, 2], false]);
    expect(net.numParameters()).toBe(6_586_658);
    net.dispose();
  });

  it("create_mednext's S (built), B and M (kernel 3, residual) have 5 550 914, 10 510 850 and 17 533 506 parameters (the paper's 5.6, 10.5 and 17.6 M)", () => {
    // k = 3: block 2eC² + (31 + e)C, down (3e + 2)C² + (34 + e)C, up (3e + 1)C²/2 + (31 + e)C (residual).
    // S (e = 2 everywhere, 2 blocks per stage): encoder (10 304 + 9 344) + (36 992 + 35 072) + (139 520 + 135 680) + (541 184 + 533 504),
    //   bottleneck 2 130 944, decoder (934 400 + 541 184) + (237 824 + 139 520) + (61 568 + 36 992) + (16 448 + 10 304), + 130: 5 550 914
    // B (encoder e 2, 3, 4, 4, bottleneck 4, decoder 4, 4, 3, 2; 2 blocks per stage): encoder (10 304 + 9 344) + (53 504 + 47 424)
    //   + (271 104 + 234 240) + (1 066 496 + 927 232), bottleneck 4 230 144, decoder (1 721 856 + 1 066 496) + (434 944 + 271 104)
    //   + (86 272 + 53 504) + (16 448 + 10 304), + 130: 10 510 850
    // M (B's ratios; blocks 3, 4, 4, 4 | 4 | 4, 4, 4, 3): encoder (15 456 + 9 344) + (107 008 + 47 424) + (542 208 + 234 240)
    //   + (2 132 992 + 927 232), bottleneck 8 460 288, decoder (1 721 856 + 2 132 992) + (434 944 + 542 208) + (86 272 + 107 008)
    //   + (16 448 + 15 456), + 130: 17 533 506
    const s = createMedNeXt('s', { backend: cpu });
    expect([s.kernelSize, s.initFilters, (s.getSubmodule('up_blocks.0') as MedNeXtUpBlock).resConv !== null]).toEqual([3, 32, true]);
    expect(s.numParameters()).toBe(5_550_914);
    s.dispose();
    // B and M through the quadratic in initFilters, as L below, from the options createMedNeXt builds them from
    expect(medNeXtVariantOptions('B')).toMatchObject({
      encoderExpansionRatio: [2, 3, 4, 4], decoderExpansionRatio: [4, 4, 3, 2], bottleneckExpansionRatio: 4, blocksDown: [2, 2, 2, 2], blocksBottleneck: 2, blocksUp: [2, 2, 2, 2],
    });
    expect(medNeXtVariantOptions('m', { kernelSize: 5 })).toMatchObject({
      encoderExpansionRatio: [2, 3, 4, 4], decoderExpansionRatio: [4, 4, 3, 2], bottleneckExpansionRatio: 4, blocksDown: [3, 4, 4, 4], blocksBottleneck: 4, blocksUp: [4, 4, 4, 3], kernelSize: 5,
    });
    expect(quadraticCountAt32('B')).toBe(10_510_850);
    expect(quadraticCountAt32('M')).toBe(17_533_506);
  });

  it("create_mednext's L has 61 726 754 parameters (the paper's 61.8 M): its count as the quadratic in initFilters through three narrow builds", () => {
    // L: encoder e 3, 4, 8, 8, bottleneck 8, decoder 8, 8, 4, 3; blocks 3, 4, 8, 8 | 8 | 8, 8, 4, 3. At 32 filters:
    //   encoder (21 696 + 12 448) + (140 032 + 59 776) + (2 137 088 + 431 360) + (8 468 480 + 1 714 688), bottleneck 33 714 176,
    //   decoder (3 296 768 + 8 468 480) + (829 184 + 2 137 088) + (110 976 + 140 032) + (22 656 + 21 696), + 130: 61 726 754.
    // the options createMedNeXt('L') builds from, at 1, 2 and 3 filters
    const L = medNeXtVariantOptions('l');
    expect(L).toMatchObject({
      encoderExpansionRatio: [3, 4, 8, 8], decoderExpansionRatio: [8, 8, 4, 3], bottleneckExpansionRatio: 8,
      blocksDown: [3, 4, 8, 8], blocksBottleneck: 8, blocksUp: [8, 8, 4, 3], kernelSize: 3, useResidualConnection: true, initFilters: 32,
    });
    expect(quadraticCountAt32('L')).toBe(61_726_754);
  });
});
