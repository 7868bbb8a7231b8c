import { describe, expect, it } from 'vitest';
import { SegResNetDS } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * MONAI's SegResNetDS at full width, built: its parameter count (in a file of its own, the construction of 20 million
 * weights being most of its time; small configurations are counted in segresnet-ds.test.ts)
 */

describe('SegResNetDS parameter count', () => {
  it("the default configuration has MONAI's 19 914 146 parameters", () => {
    // f = 32, inChannels 1, outChannels 2, BatchNorm3d (2c each), no conv bias but the heads'; SegResBlock(c) = two
    // norms + two 3³ convs c → c = 54c² + 4c.
    //   encoder.conv_init 3³ 1 → 32                                     27·32                        =        864
    //   layers.0: SegResBlock(32), downsample 3³ stride 2 32 → 64       55 424 + 55 296              =    110 720
    //   layers.1: 2 × SegResBlock(64), downsample 64 → 128              442 880 + 221 184            =    664 064
    //   layers.2: 2 × SegResBlock(128), downsample 128 → 256            1 770 496 + 884 736          =  2 655 232
    //   layers.3: 4 × SegResBlock(256), Identity                        4·3 539 968                  = 14 159 872
    //   up_layers.i: deconv 3³ 2c → c (no bias) 54c², SegResBlock(c):   c = 128: 884 736 + 885 248   =  1 769 984
    //                                                                   c = 64: 221 184 + 221 440    =    442 624
    //                                                                   c = 32: 55 296 + 55 424      =    110 720
    //   up_layers.2.head 1³ 32 → 2 with bias (dsdepth 1: the finest level's only)                    =         66
    // sum 19 914 146
    const net = new SegResNetDS({ backend: cpu });
    expect([net.initFilters, net.blocksDown, net.blocksUp, net.dsdepth, net.upsampleMode, net.anisotropicScales]).toEqual([32, [1, 2, 2, 4], [1, 1, 1], 1, 'deconv', null]);
    expect(net.numParameters()).toBe(19_914_146);
    net.dispose();
  });

});
