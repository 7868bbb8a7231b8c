import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { Dropout3d, MonaiConvolution, MonaiVNet, type MonaiVNetOptions } from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { randn } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/monai-vnet.ts found untested (stryker.config.mjs): every convolution's seed and
 * every dropout's mask salt derived from the network's seed and its module path, the backend reaching every layer
 * (PReLU's slopes included), the option checks' whole conditions (the bounds of a probability, its type, a two-entry
 * object that is no array, a negative inChannels that divides initFilters), the input's rank.
 */

const tiny = (options: Partial<MonaiVNetOptions> = {}): MonaiVNet => new MonaiVNet({ initFilters: 2, seed: 3, backend: cpu, ...options });

/** a cpu backend other than the default one: a layer built on it proves the network passed its backend on */
const other = new CpuBackend();

describe('MonaiVNet (mutation tests)', () => {
  it.each([false, true])('each convolution is seeded from the seed and its module path (bias %s)', async (bias) => {
    const net = tiny({ bias });
    // a conv_block (MONAI's Convolution) is built with the seed of its path and seeds its `conv` from it
    const checked = await expectConvSeedsFromPaths(net, 3, (m) => m instanceof MonaiConvolution);
    // conv_blocks: in_tr, the down transitions' 1 + 2 + 3 + 2 LUConvs, the up ones' 2 + 2 + 1 + 1, out_tr's; 4 down_convs,
    // 4 up_convs and out_tr.conv2: 1 + 8 + 6 + 1 + 4 + 4 + 1
    expect(checked).toBe(25);
    net.dispose();
  });

  it('each dropout mask salt is derived from the seed and its module path', () => {
    const net = tiny({ dropoutProbUp: [0.25, 0.75] });
    const dropouts = net.namedModules('', false).filter(([, m]) => m instanceof Dropout3d) as [string, Dropout3d][];
    expect(dropouts.map(([path]) => path)).toEqual([
      'down_tr128.dropout', 'down_tr256.dropout', 'up_tr256.dropout', 'up_tr256.dropout2', 'up_tr128.dropout', 'up_tr128.dropout2', 'up_tr64.dropout2', 'up_tr32.dropout2',
    ]);
    for (const [path, d] of dropouts) expect([path, d.salt]).toEqual([path, deriveSeed(3, path)]);
    expect(dropouts.map(([, d]) => d.p)).toEqual([0.5, 0.5, 0.25, 0.75, 0.25, 0.75, 0.5, 0.5]);
    net.dispose();
  });

  it.each(['prelu', 'elu'] as const)('every parameter and buffer lives on the backend given (act %s)', (act) => {
    const net = tiny({ act, bias: true, backend: other });
    const state = [...net.stateDict()];
    expect(state.length).toBeGreaterThan(100);
    expect(state.filter(([, t]) => t.backend !== other).map(([k]) => k)).toEqual([]);
    net.dispose();
  });

  it('refuses the option values just outside each check and accepts those at its bounds', () => {
    const refused: [Partial<MonaiVNetOptions>, RegExp][] = [
      [{ dropoutProbDown: -0.1 }, /^MonaiVNet: dropoutProbDown must be in \[0, 1\] or null, got -0\.1$/],
      [{ dropoutProbDown: 1.5 }, /^MonaiVNet: dropoutProbDown must be in \[0, 1\] or null, got 1\.5$/],
      [{ dropoutProbDown: '0.5' as unknown as number }, /^MonaiVNet: dropoutProbDown must be in \[0, 1\] or null, got 0\.5$/],
      [{ dropoutProbUp: [2, 0.5] }, /^MonaiVNet: dropoutProbUp must be \[p or null, p\] with p in \[0, 1\], got \[2,0\.5\]$/],
      [{ dropoutProbUp: ['0.5', 0.5] as unknown as [number, number] }, /^MonaiVNet: dropoutProbUp must be \[p or null, p\] with p in \[0, 1\], got \["0\.5",0\.5\]$/],
      [{ dropoutProbUp: [0.5, -1] }, /^MonaiVNet: dropoutProbUp must be \[p or null, p\] with p in \[0, 1\], got \[0\.5,-1\]$/],
      [{ dropoutProbUp: [0.5, 0.5, 0.5] as unknown as [number, number] }, /^MonaiVNet: dropoutProbUp must be \[p or null, p\] with p in \[0, 1\], got \[0\.5,0\.5,0\.5\]$/],
      // an object with the two entries and a length, but no array
      [{ dropoutProbUp: { 0: 0.5, 1: 0.5, length: 2 } as unknown as [number, number] }, /^MonaiVNet: dropoutProbUp must be \[p or null, p\] with p in \[0, 1\], got \{"0":0\.5,"1":0\.5,"length":2\}$/],
      [{ initFilters: 0 }, /^MonaiVNet: initFilters must be a positive integer, got 0$/],
      [{ initFilters: -2 }, /^MonaiVNet: initFilters must be a positive integer, got -2$/],
      // −1 divides initFilters 2: only the positivity refuses it
      [{ inChannels: -1 }, /^MonaiVNet: inChannels must be a positive divisor of initFilters 2 \(the input transition's channels\), got -1$/],
      [{ inChannels: 0.5 }, /^MonaiVNet: inChannels must be a positive divisor of initFilters 2 \(the input transition's channels\), got 0\.5$/],
      [{ outChannels: 1.5 }, /^MonaiVNet: outChannels must be a positive integer, got 1\.5$/],
      [{ outChannels: -1 }, /^MonaiVNet: outChannels must be a positive integer, got -1$/],
      [{ bias: 'true' as unknown as boolean }, /^MonaiVNet: bias must be a boolean, got true$/],
    ];
    for (const [options, message] of refused) expect(() => tiny(options), JSON.stringify(options)).toThrow(message);
    const accepted: Partial<MonaiVNetOptions>[] = [
      { dropoutProbDown: 0 }, { dropoutProbDown: 1 }, { dropoutProbUp: [0, 0] }, { dropoutProbUp: [1, 1] }, { dropoutProbUp: [null, 1] },
      { inChannels: 2 }, { initFilters: 1 }, { bias: true },
    ];
    for (const options of accepted) expect(() => tiny(options).dispose(), JSON.stringify(options)).not.toThrow();
  });

  it('refuses an input of another rank even when its channels and extents would pass', () => {
    const net = tiny();
    const flat = randn([1, 1, 16, 16], 1, { backend: cpu });
    expect(() => net.forward(flat)).toThrow(/^MonaiVNet: input must be \[N, 1, D, H, W\], got \[1, 1, 16, 16\]$/);
    const six = randn([1, 1, 16, 16, 16, 1], 1, { backend: cpu });
    expect(() => net.forward(six)).toThrow(/^MonaiVNet: input must be \[N, 1, D, H, W\], got \[1, 1, 16, 16, 16, 1\]$/);
    for (const t of [flat, six]) t.dispose();
    net.dispose();
  });
});
