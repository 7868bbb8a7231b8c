import { describe, expect, it } from 'vitest';
import { DenseNet121 } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * MONAI's DenseNet121 at full width, built: its parameter count (in a file of its own, the construction of 11 million
 * He-normal weights being most of its time; the other variants are counted in densenet.test.ts)
 */

describe('DenseNet121', () => {
  it("DenseNet121(spatialDims 3, inChannels 1, outChannels 2) has MONAI's 11 244 674 parameters", () => {
    // blocks [6, 12, 24, 16], initFeatures 64, growthRate 32, bnSize 4 (bottleneck 128 channels), batch norms:
    //   conv0 7³ 1→64 without bias 21 952, norm0 128: 22 080;
    //   a dense layer on c channels: norm1 2c, conv1 1³ c→128 128c, norm2 256, conv2 3³ 128→32 110 592: 130c + 110 848;
    //   L layers from c channels: L(130c + 110 848) + 130·32·L(L − 1)/2
    //   denseblock1 (c 64, 6 layers) 6·119 168 + 4 160·15 = 777 408 → 256 channels; transition1 (norm 2·256, conv 1³ 256→128) 33 280 → 128
    //   denseblock2 (128, 12) 12·127 488 + 4 160·66 = 1 804 416 → 512; transition2 1 024 + 131 072 = 132 096 → 256
    //   denseblock3 (256, 24) 24·144 128 + 4 160·276 = 4 607 232 → 1 024; transition3 2 048 + 524 288 = 526 336 → 512
    //   denseblock4 (512, 16) 16·177 408 + 4 160·120 = 3 337 728 → 1 024; norm5 2 048; class_layers.out 1 024·2 + 2 = 2 050
    //   sum 11 244 674
    const net = new DenseNet121({ spatialDims: 3, inChannels: 1, outChannels: 2, backend: cpu });
    expect(net.numParameters()).toBe(11_244_674);
    expect([net.blockConfig, net.numFeatures, net.typeName]).toEqual([[6, 12, 24, 16], 1024, 'DenseNet121']);
    net.dispose();
  });
});
