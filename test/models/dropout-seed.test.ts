import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/index.js';
import { Dropout, Module, SegResNet, manualSeed } from '../../src/models/index.js';
import { dispose, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** MONAI's SegResNet with dropout (a Dropout3d deep in its tree) followed by a Dropout of our own */
class Net extends Module {
  body = new SegResNet({ initFilters: 8, blocksDown: [1, 1], blocksUp: [1], dropoutProb: 0.5, backend: cpu });
  drop = new Dropout(0.5);
  forward(x: Tensor): Tensor { return this.drop.forward(this.body.forward(x)); }
}

function freshNet(): Net {
  manualSeed(3); // the same layers, salts included
  return new Net();
}

async function forwardAt(net: Net, x: Tensor, iteration: number | null): Promise<number[]> {
  if (iteration !== null) net.seedDropout(iteration);
  return Array.from(await noGrad(() => tidy(() => net.forward(x))).toArray());
}

describe('Module.seedDropout', () => {
  it('makes the dropout masks of every layer a function of the seed, so a resumed run draws the uninterrupted run\'s masks', async () => {
    const x = randn([1, 1, 8, 8, 8], 1, { backend: cpu });
    const run = freshNet();
    const uninterrupted: number[][] = [];
    for (let it = 0; it < 4; it++) uninterrupted.push(await forwardAt(run, x, it));
    expect(uninterrupted[3]).not.toEqual(uninterrupted[2]); // the masks change with the iteration

    const resumed = freshNet(); // a fresh process, resumed at iteration 2
    expect(await forwardAt(resumed, x, 2)).toEqual(uninterrupted[2]);
    expect(await forwardAt(resumed, x, 3)).toEqual(uninterrupted[3]);

    const unseeded = freshNet(); // without seeding, its first forward draws iteration 0's masks, not iteration 2's
    expect(await forwardAt(unseeded, x, null)).not.toEqual(uninterrupted[2]);
    dispose([x]);
    for (const net of [run, resumed, unseeded]) net.dispose();
  });
});
