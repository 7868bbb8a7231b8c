import { describe, expect, it } from 'vitest';
import { add, concat, conv3d, mul, noGrad, prelu } from '../../src/autograd/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import {
  ADN, BatchNorm3d, Conv3d, ConvTranspose3d, Dropout, ELU, GroupNorm, InstanceNorm3d, LeakyReLU, MonaiConvolution, PReLU, ReLU,
  ResidualUnit, SkipConnection,
} from '../../src/models/index.js';
import { checkAdnOrdering, monaiActFactory, monaiNormFactory, samePadding, type MonaiActSpec } from '../../src/models/monai-blocks.js';
import { deriveSeed } from '../../src/models/module.js';
import type { NormSpec } from '../../src/models/norm-act.js';
import { dispose, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectSameAsWrittenOut } from '../helpers/model-checks.js';

/**
 * What the mutation run of src/models/monai-blocks.ts found untested (stryker.config.mjs): the act and norm
 * factories' arguments and refusals (whole messages), same padding with dilation, ADN's checks, order and dropout
 * salt, Convolution's seeds by path, dilation, transposed output padding and backend, ResidualUnit's subunits,
 * lastConvOnly and strided residual, SkipConnection's add and mul and its dim.
 */

/** a cpu backend other than the default one: a layer built on it proves the block passed its backend on */
const other = new CpuBackend();

const values = async (t: Tensor): Promise<number[]> => Array.from(await t.toArray());

describe('monaiActFactory and monaiNormFactory (mutation tests)', () => {
  const validActs = "valid: 'prelu', 'relu', 'leakyrelu', 'elu', 'gelu', 'relu6', 'sigmoid', 'tanh', or [name, args] for prelu ({ numParameters, init }), leakyrelu ({ negativeSlope }) and elu ({ alpha })";
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('an unknown name, or args that are not an object, is refused with the whole list of valid acts, naming the caller', () => {
    for (const [act, shown] of [['swish', '"swish"'], [['relu', 5], '["relu",5]'], [['prelu', [1]], '["prelu",[1]]'], [['tanh', 'x'], '["tanh","x"]']] as const) {
      expect(() => monaiActFactory(act as unknown as MonaiActSpec, 'Who')).toThrow(new RegExp(`^Who: unknown act ${esc(shown)}; ${esc(validActs)}$`));
    }
    expect(() => monaiActFactory(7 as unknown as MonaiActSpec, 'Who')).toThrow(new RegExp(`^Who: unknown act 7; ${esc(validActs)}$`));
    // a one-element array has undefined args, refused as well
    expect(() => monaiActFactory(['relu'] as unknown as MonaiActSpec, 'Who')).toThrow(/^Who: unknown act \["relu"\]; valid: /);
  });

  it('the arguments reach the layers: PReLU (count, init, backend), ELU alpha, LeakyReLU slope; defaults as PyTorch', async () => {
    const p = monaiActFactory(['PReLU' as 'prelu', { numParameters: 3, init: 0.1 }], 'T')(other) as PReLU;
    expect(p).toBeInstanceOf(PReLU);
    expect(p.weight.backend).toBe(other);
    expect(await values(p.weight)).toEqual([0.1, 0.1, 0.1].map(Math.fround));
    const p0 = monaiActFactory('prelu', 'T')(other) as PReLU;
    expect(await values(p0.weight)).toEqual([0.25]);
    expect((monaiActFactory(['elu', { alpha: 0.5 }], 'T')(undefined) as ELU).alpha).toBe(0.5);
    expect((monaiActFactory('ELU' as 'elu', 'T')(undefined) as ELU).alpha).toBe(1);
    expect((monaiActFactory(['leakyrelu', { negativeSlope: 0.3 }], 'T')(undefined) as LeakyReLU).negativeSlope).toBe(0.3);
    expect((monaiActFactory('leakyrelu', 'T')(undefined) as LeakyReLU).negativeSlope).toBe(0.01);
    p.dispose();
    p0.dispose();
  });

  it('norms: the arguments and backend reach the layer, one-element arrays take no arguments, group needs numGroups', () => {
    const g = monaiNormFactory(['GROUP' as 'group', { numGroups: 2 }], 'T')(4, other) as GroupNorm;
    expect(g).toBeInstanceOf(GroupNorm);
    expect([g.numGroups, g.numChannels, g.weight!.backend]).toEqual([2, 4, other]);
    const i = monaiNormFactory(['instance', { affine: true }], 'T')(3, other) as InstanceNorm3d;
    expect(i).toBeInstanceOf(InstanceNorm3d);
    expect(i.weight!.shape).toEqual([3]);
    expect(i.weight!.backend).toBe(other);
    const b = monaiNormFactory(['batch'] as unknown as NormSpec, 'T')(2, undefined);
    expect(b).toBeInstanceOf(BatchNorm3d);
    expect((b as BatchNorm3d).weight!.shape).toEqual([2]);
    expect(monaiNormFactory('Batch' as 'batch', 'T')(2, undefined)).toBeInstanceOf(BatchNorm3d);
    expect(() => monaiNormFactory('group' as NormSpec, 'T')).toThrow(/^T: norm 'group' needs its numGroups: \['group', \{ numGroups \}\]$/);
    expect(() => monaiNormFactory(['group'] as unknown as NormSpec, 'T')).toThrow(/^T: norm 'group' needs its numGroups/);
    expect(() => monaiNormFactory(['layer', {}] as unknown as NormSpec, 'T')).toThrow(/^T: unknown norm \["layer",\{\}\]; valid: 'instance', 'batch', or \[name, args\]: \['instance', \{ affine, eps \}\], \['batch', \{ … \}\], \['group', \{ numGroups, … \}\]$/);
    expect(() => monaiNormFactory(7 as unknown as NormSpec, 'T')).toThrow(/^T: unknown norm 7;/);
    // args that are not an object (MONAI's norm_type(**args) refuses them)
    for (const [norm, shown] of [[['instance', 5], '["instance",5]'], [['batch', [1]], '["batch",[1]]'], [['group', 'x'], '["group","x"]']] as const) {
      expect(() => monaiNormFactory(norm as unknown as NormSpec, 'T')).toThrow(new RegExp(`^T: unknown norm ${esc(shown)}; valid: 'instance'`));
    }
    for (const m of [g, i, b]) m.dispose();
  });

  it('samePadding is (kernel − 1)·dilation / 2 per axis, refused with both where it is not an integer', () => {
    expect(samePadding([3, 5, 1], [2, 1, 3], 'S')).toEqual([2, 2, 0]);
    // an even kernel with an even dilation has a same padding
    expect(samePadding(4, 2, 'S')).toEqual([3, 3, 3]);
    expect(() => samePadding([3, 3, 2], 1, 'S')).toThrow(/^S: same padding is not available for kernelSize \[3, 3, 2\] and dilation \[1, 1, 1\]: \(kernel − 1\)·dilation must be even \(an odd kernel\)$/);
    // sizes that are not one or three integers are refused by triple, naming which
    expect(() => samePadding([3, 3] as unknown as number, 1, 'S')).toThrow(/^S kernelSize must be an integer or three integers/);
    expect(() => samePadding(3, [1, 1] as unknown as number, 'S')).toThrow(/^S dilation must be an integer or three integers/);
    expect(() => samePadding(2, [2, 3, 2], 'S')).toThrow(/^S: same padding is not available for kernelSize \[2, 2, 2\] and dilation \[2, 3, 2\]/);
  });

  it('checkAdnOrdering takes any case and names the first bad letter', () => {
    expect(() => checkAdnOrdering('nDa', 'X')).not.toThrow();
    expect(() => checkAdnOrdering('', 'X')).not.toThrow();
    expect(() => checkAdnOrdering('ndz', 'X')).toThrow(/^X must be a string of A, D and N, got 'Z' in 'ndz'$/);
  });
});

describe('ADN (mutation tests)', () => {
  it("the default order is 'NDA', each letter once, any case; null leaves a layer out", () => {
    const names = (adn: ADN) => adn.namedChildren().map(([n, m]) => [n, m.typeName]);
    expect(names(new ADN({ norm: 'batch', dropout: 0.1, inChannels: 2 }))).toEqual([['N', 'BatchNorm3d'], ['D', 'Dropout'], ['A', 'ReLU']]);
    expect(names(new ADN({ norm: 'batch', dropout: 0.1, inChannels: 2, ordering: 'adn' }))).toEqual([['A', 'ReLU'], ['D', 'Dropout'], ['N', 'BatchNorm3d']]);
    expect(names(new ADN({ act: null, dropout: 0, ordering: 'DAD' }))).toEqual([['D', 'Dropout']]);
    expect(names(new ADN({ act: null }))).toEqual([]);
  });

  it('the dropout is an nn.Dropout of p whose mask salt is the seed (default 0); the norm and act get the backend', () => {
    const adn = new ADN({ dropout: 0.25, seed: 9, norm: 'batch', act: 'prelu', inChannels: 2, backend: other });
    const d = adn.getSubmodule('D') as Dropout;
    expect([d.p, d.salt]).toEqual([0.25, 9]);
    expect((new ADN({ dropout: 0.25 }).getSubmodule('D') as Dropout).salt).toBe(0);
    expect((adn.getSubmodule('N') as BatchNorm3d).weight!.backend).toBe(other);
    expect((adn.getSubmodule('A') as PReLU).weight.backend).toBe(other);
    adn.dispose();
  });

  it('refuses a dropout outside [0, 1] and a norm without a positive integer inChannels, by name', () => {
    for (const p of [-0.1, 1.5, NaN]) expect(() => new ADN({ dropout: p })).toThrow(new RegExp(`^ADN: dropout must be in \\[0, 1\\] or null, got ${p}$`));
    for (const p of [0, 1]) expect(() => new ADN({ dropout: p })).not.toThrow();
    for (const c of [0, 2.5, -1]) {
      expect(() => new ADN({ norm: 'batch', inChannels: c })).toThrow(new RegExp(`^ADN: a norm needs inChannels, a positive integer, got ${c}$`));
    }
    expect(() => new ADN({ norm: 'layer' as 'batch', inChannels: 2 })).toThrow(/^ADN: unknown norm "layer"/);
    expect(() => new ADN({ act: 'swish' as 'relu' })).toThrow(/^ADN: unknown act "swish"/);
  });
});

describe('MonaiConvolution (mutation tests)', () => {
  it("the convolution is seeded from the seed and its path ('conv', or `${path}.conv`), the dropout's salt likewise", async () => {
    const own = new MonaiConvolution(2, 3, { seed: 5, dropout: 0.5 });
    const inNet = new MonaiConvolution(2, 3, { seed: 5, dropout: 0.5, path: 'model.1' });
    const ref = (name: string) => new Conv3d(2, 3, 3, { padding: 1, seed: deriveSeed(5, name) });
    const [a, b] = [ref('conv'), ref('model.1.conv')];
    expect(await values(own.conv.weight)).toEqual(await values(a.weight));
    expect(await values(own.conv.bias!)).toEqual(await values(a.bias!));
    expect(await values(inNet.conv.weight)).toEqual(await values(b.weight));
    expect((own.getSubmodule('adn.D') as Dropout).salt).toBe(deriveSeed(5, 'adn.D'));
    expect((inNet.getSubmodule('adn.D') as Dropout).salt).toBe(deriveSeed(5, 'model.1.adn.D'));
    for (const m of [own, inNet, a, b]) m.dispose();
  });

  it('strides, dilation (same padding from it), an explicit padding, bias false and the backend reach the Conv3d', () => {
    const c = new MonaiConvolution(2, 3, { strides: [1, 2, 2], kernelSize: [3, 5, 3], dilation: [2, 1, 3], bias: false, backend: other });
    const conv = c.conv as Conv3d;
    expect([conv.stride, conv.dilation, conv.padding, conv.bias]).toEqual([[1, 2, 2], [2, 1, 3], [2, 2, 3], null]);
    expect(conv.weight.shape).toEqual([3, 2, 3, 5, 3]);
    expect(conv.weight.backend).toBe(other);
    expect((new MonaiConvolution(2, 3, { padding: [0, 1, 2] }).conv as Conv3d).padding).toEqual([0, 1, 2]);
    expect([c.inChannels, c.outChannels]).toEqual([2, 3]);
    c.dispose();
  });

  it('transposed: a ConvTranspose3d whose output padding is stride − 1 unless given, so the size is multiplied by the stride', () => {
    const t = new MonaiConvolution(2, 3, { isTransposed: true, strides: [1, 2, 3], kernelSize: 3, seed: 1, backend: cpu });
    const conv = t.conv as ConvTranspose3d;
    expect(conv).toBeInstanceOf(ConvTranspose3d);
    expect([conv.stride, conv.padding, conv.outputPadding]).toEqual([[1, 2, 3], [1, 1, 1], [0, 1, 2]]);
    const x = randn([1, 2, 2, 3, 2], 1, { backend: cpu });
    const y = noGrad(() => t.forward(x));
    expect(y.shape).toEqual([1, 3, 2, 6, 6]);
    const given = new MonaiConvolution(2, 3, { isTransposed: true, strides: 2, outputPadding: 0 }).conv as ConvTranspose3d;
    expect(given.outputPadding).toEqual([0, 0, 0]);
    expect((new MonaiConvolution(2, 3, { isTransposed: true }).conv as ConvTranspose3d).outputPadding).toEqual([0, 0, 0]);
    dispose([x, y]);
    t.dispose();
  });

  it("convOnly, or act, norm and dropout all null, leave out the adn; the adn's order, norm and act are the options'", () => {
    const only = new MonaiConvolution(2, 3, { convOnly: true });
    expect([only.namedChildren().map(([n]) => n), only.adn]).toEqual([['conv'], null]);
    expect(new MonaiConvolution(2, 3, { act: null, norm: null, dropout: null }).adn).toBeNull();
    const withDrop = new MonaiConvolution(2, 3, { act: null, norm: null, dropout: 0 });
    expect(withDrop.adn!.namedChildren().map(([n]) => n)).toEqual(['D']);
    const custom = new MonaiConvolution(2, 3, { act: 'relu', norm: ['group', { numGroups: 3 }], adnOrdering: 'AN' });
    expect(custom.adn!.namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['A', 'ReLU'], ['N', 'GroupNorm']]);
    expect((custom.getSubmodule('adn.N') as GroupNorm).numChannels).toBe(3);
    expect(new MonaiConvolution(2, 3, { norm: null }).adn!.namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['A', 'PReLU']]);
    expect(new MonaiConvolution(2, 3, { act: null }).adn!.namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'InstanceNorm3d']]);
    for (const m of [only, withDrop, custom]) m.dispose();
  });
});

describe('ResidualUnit and SkipConnection (mutation tests)', () => {
  it('the units and the residual are seeded from the seed and their paths; the first unit takes the stride, the others 1', async () => {
    const unit = new ResidualUnit(2, 3, { strides: [2, 1, 2], seed: 6, subunits: 3 });
    const names = unit.conv.namedChildren().map(([n]) => n);
    expect(names).toEqual(['unit0', 'unit1', 'unit2']);
    const strides = names.map((n) => ((unit.getSubmodule(`conv.${n}`) as MonaiConvolution).conv as Conv3d).stride);
    expect(strides).toEqual([[2, 1, 2], [1, 1, 1], [1, 1, 1]]);
    const inChannels = names.map((n) => (unit.getSubmodule(`conv.${n}`) as MonaiConvolution).inChannels);
    expect(inChannels).toEqual([2, 3, 3]);
    const u1 = new MonaiConvolution(3, 3, { seed: deriveSeed(6, 'conv.unit1') });
    expect(await values(unit.getParameter('conv.unit1.conv.weight'))).toEqual(await values(u1.conv.weight));
    const res = new Conv3d(2, 3, 3, { stride: [2, 1, 2], padding: 1, seed: deriveSeed(6, 'residual') });
    expect(await values(unit.residual!.weight)).toEqual(await values(res.weight));
    expect(await values(unit.residual!.bias!)).toEqual(await values(res.bias!));
    for (const m of [unit, u1, res]) m.dispose();
  });

  it("a strided residual is a Conv3d with the unit's kernel, stride and padding; an unstrided one 1³ unpadded; bias and backend follow", () => {
    const strided = new ResidualUnit(2, 2, { strides: 2, kernelSize: 5, bias: false, backend: other });
    const r = strided.residual!;
    expect([r.weight.shape, r.stride, r.padding, r.bias, r.weight.backend]).toEqual([[2, 2, 5, 5, 5], [2, 2, 2], [2, 2, 2], null, other]);
    expect(strided.getParameter('conv.unit0.conv.weight').backend).toBe(other);
    const widening = new ResidualUnit(2, 4, { kernelSize: 5 }).residual!;
    expect([widening.weight.shape, widening.stride, widening.padding]).toEqual([[4, 2, 1, 1, 1], [1, 1, 1], [0, 0, 0]]);
    expect(new ResidualUnit(2, 2, { strides: [1, 1, 2] }).residual!.padding).toEqual([1, 1, 1]);
    expect(new ResidualUnit(3, 3, { strides: [1, 1, 1] }).residual).toBeNull();
    strided.dispose();
  });

  it('lastConvOnly leaves the last unit without its adn; subunits below 1 give one unit, a fraction is refused', () => {
    const last = new ResidualUnit(2, 2, { lastConvOnly: true, subunits: 2 });
    expect([(last.getSubmodule('conv.unit0') as MonaiConvolution).adn === null, (last.getSubmodule('conv.unit1') as MonaiConvolution).adn]).toEqual([false, null]);
    const both = new ResidualUnit(2, 2, { subunits: 2 });
    expect((both.getSubmodule('conv.unit1') as MonaiConvolution).adn).not.toBeNull();
    expect(new ResidualUnit(2, 2, { subunits: -3 }).conv.namedChildren().map(([n]) => n)).toEqual(['unit0']);
    expect(() => new ResidualUnit(2, 2, { subunits: 1.5 })).toThrow(/^ResidualUnit: subunits must be an integer, got 1.5$/);
    expect(() => new ResidualUnit(2, 2, { kernelSize: 2 })).toThrow(/^ResidualUnit: same padding is not available for kernelSize \[2, 2, 2\]/);
  });

  it('the forward is the units plus the residual convolution (written out in float64)', async () => {
    const unit = new ResidualUnit(2, 3, { strides: 2, subunits: 1, act: 'prelu', norm: null, seed: 2, backend: cpu });
    const x = randn([1, 2, 4, 4, 4], 3, { backend: cpu });
    const got = noGrad(() => unit.forward(x));
    const w = (k: string) => unit.getParameter(k);
    const want = noGrad(() => tidy(() => add(
      prelu(conv3d(x, w('conv.unit0.conv.weight'), w('conv.unit0.conv.bias'), { stride: 2, padding: 1 }), w('conv.unit0.adn.A.weight')),
      conv3d(x, w('residual.weight'), w('residual.bias'), { stride: 2, padding: 1 }))));
    await expectSameAsWrittenOut(got, want, 1e-6);
    dispose([x, got, want]);
    unit.dispose();
  });

  it('SkipConnection: cat along its dim, add and mul of the input and the submodule output', async () => {
    const x = randn([1, 2, 2, 3, 2], 4, { backend: cpu });
    const sub = new ReLU();
    const r = noGrad(() => sub.forward(x));
    for (const [skip, want] of [
      [new SkipConnection(sub), concat([x, r], 1)],
      [new SkipConnection(sub, 3), concat([x, r], 3)],
      [new SkipConnection(sub, 1, 'add'), add(x, r)],
      [new SkipConnection(sub, 1, 'mul'), mul(x, r)],
    ] as const) {
      const got = noGrad(() => skip.forward(x));
      expect(got.shape).toEqual(want.shape);
      expect(await values(got)).toEqual(await values(want));
      dispose([got, want]);
    }
    expect(() => new SkipConnection(sub, 1, 'sub' as 'add')).toThrow(/^SkipConnection: unknown mode 'sub'; valid: cat, add, mul$/);
    dispose([x, r]);
  });
});
