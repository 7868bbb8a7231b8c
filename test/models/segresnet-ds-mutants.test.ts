import { describe, expect, it } from 'vitest';
import { ConvTranspose3d, InstanceNorm3d, SegResNetDS, type SegResNetDSNorm, type SegResNetDSOptions } from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { rand } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/segresnet-ds.ts found untested (stryker.config.mjs): every convolution's seed
 * derived from the network's seed and its module path (a flat network's head too), MONAI's affine for a norm given as
 * [name] or [name, args], norms that are no name, the channel and resolution checks' labels and clauses, the kept
 * resolution, the input's rank check.
 */

const tiny = (options: SegResNetDSOptions = {}): SegResNetDS => new SegResNetDS({
  initFilters: 2, blocksDown: [1, 2, 1], seed: 3, backend: cpu, ...options,
});

describe('SegResNetDS (mutation tests)', () => {
  it.each(['deconv', 'deconvgroup', 'nontrainable'] as const)("each convolution is seeded from the seed and its module path (upsampleMode '%s', dsdepth 2)", async (upsampleMode) => {
    const net = tiny({ upsampleMode, dsdepth: 2 });
    // conv_init, 4 encoder blocks of two convs, 2 downsamples; per decoder level an upsample (a transposed conv, or a
    // 1³ preconv), a block of two convs and a head (dsdepth 2: both levels). The grouped transposed convs are compared
    // below: the helper builds ungrouped ones.
    const grouped = (path: string) => upsampleMode === 'deconvgroup' && path.endsWith('.upsample.deconvgroup');
    expect(await expectConvSeedsFromPaths(net, 3, () => false, grouped)).toBe(1 + 4 * 2 + 2 + 2 * (1 + 2 + 1));
    if (upsampleMode === 'deconvgroup') {
      for (const path of ['up_layers.0.upsample.deconvgroup', 'up_layers.1.upsample.deconvgroup']) {
        const m = net.getSubmodule(path) as ConvTranspose3d;
        expect(m.groups).toBe(m.outChannels);
        const ref = new ConvTranspose3d(m.inChannels, m.outChannels, 3, { groups: m.groups, bias: false, seed: deriveSeed(3, path), backend: cpu });
        expect([path, Array.from(await m.weight.toArray())]).toEqual([path, Array.from(await ref.weight.toArray())]);
        ref.dispose();
      }
    }
    net.dispose();
  });

  it("a flat network's head (no decoder level) is seeded from its path 'up_layers.0.head'", async () => {
    const net = tiny({ blocksDown: [1] });
    expect(await expectConvSeedsFromPaths(net, 3, () => false)).toBe(1 + 2 + 1);
    net.dispose();
  });

  it("an instance norm given as [name] or [name, args] without affine gets MONAI's affine true; a norm that is no name is refused", () => {
    for (const norm of [['instance'], ['instance', {}], ['INSTANCE', { eps: 1e-3 }]] as unknown as SegResNetDSNorm[]) {
      const net = tiny({ norm });
      const norms = net.modules().filter((m) => m instanceof InstanceNorm3d) as InstanceNorm3d[];
      expect([JSON.stringify(norm), norms.length, norms.every((n) => n.weight !== null && n.bias !== null)]).toEqual([JSON.stringify(norm), 2 * 6, true]);
      net.dispose();
    }
    expect(() => tiny({ norm: 5 as unknown as SegResNetDSNorm })).toThrow(/^SegResNetDS: unknown norm 5;/);
    // args that are no object are refused, not given MONAI's affine
    expect(() => tiny({ norm: ['instance', 5] as unknown as SegResNetDSNorm })).toThrow(/^SegResNetDS: unknown norm \["instance",5\];/);
  });

  it('refuses zero channels, a blocksUp of the wrong length, a resolution of zero or of strings, by name', () => {
    expect(() => tiny({ inChannels: 0 })).toThrow(/^SegResNetDS: inChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ outChannels: 0 })).toThrow(/^SegResNetDS: outChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ blocksUp: [1, 1, 1] })).toThrow(/^SegResNetDS: blocksUp \[1, 1, 1\] needs one entry fewer than blocksDown \[1, 2, 1\] \(one per decoder level\)$/);
    expect(() => tiny({ resolution: [1, 0, 1] })).toThrow(/^SegResNetDS: resolution must be three positive spacings \[x, y, z\], got \[1,0,1\]$/);
    expect(() => tiny({ resolution: ['1', 1, 1] as unknown as [number, number, number] })).toThrow(/^SegResNetDS: resolution must be three positive spacings \[x, y, z\], got \["1",1,1\]$/);
  });

  it("defaults to MONAI's blocksDown [1, 2, 2, 4] and blocksUp [1, 1, 1] (a narrow build: initFilters 1)", () => {
    const net = new SegResNetDS({ initFilters: 1, seed: 1, backend: cpu });
    expect([net.blocksDown, net.blocksUp, net.encoder.layers.length, net.upLayers.length]).toEqual([[1, 2, 2, 4], [1, 1, 1], 4, 3]);
    net.dispose();
  });

  it('keeps a copy of the resolution given, null without one', () => {
    const given: [number, number, number] = [1, 1, 4];
    const aniso = tiny({ resolution: given }), iso = tiny();
    expect(aniso.resolution).toEqual([1, 1, 4]);
    expect(aniso.resolution).not.toBe(given);
    expect(iso.resolution).toBeNull();
    aniso.dispose();
    iso.dispose();
  });

  it('refuses an input of rank 6 by its rank, even where its last three sizes fit', () => {
    const net = tiny();
    const x = rand([1, 1, 4, 4, 4, 4], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^SegResNetDS: input must be \[N, 1, D, H, W\], got \[1, 1, 4, 4, 4, 4\]$/);
    x.dispose();
    net.dispose();
  });
});
