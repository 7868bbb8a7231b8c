import { describe, expect, it } from 'vitest';
import {
  add, batchNorm, concat, conv3d, convTranspose3d, dropout3d, elu, gradcheck, noGrad, prelu, repeat,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, ConvTranspose3d, DownTransition, Dropout3d, ELU, InputTransition, LUConv, LeakyReLU, Module, MonaiVNet, OutputTransition,
  PReLU, ReLU, UpTransition, crossEntropy, type MonaiActSpec, type MonaiVNetOptions, type MonaiVNetTransitionContext,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectDirectionalGradcheck, expectSameAsWrittenOut, loadDistinctSafetensors } from '../helpers/model-checks.js';

/**
 * MONAI's VNet (monai/networks/nets/vnet.py) as MonaiVNet: MONAI's parameter count and state-dict keys, the module
 * tree, the options (MONAI's dropout placement included) and their errors, the forward against the network written out
 * with the functional ops in float64 (training mode with the same dropout masks, and eval mode), a float64 gradient
 * check of a tiny stack of its transitions, and a few training steps.
 */

const tiny = (options: Partial<MonaiVNetOptions> = {}): MonaiVNet => new MonaiVNet({ initFilters: 2, seed: 3, backend: cpu, ...options });

type Spec = [string, number[]][];
const bn = (p: string, c: number): Spec => [[`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []]];
const convBlock = (p: string, a: number, b: number, bias: boolean): Spec =>
  [[`${p}.conv.weight`, [b, a, 5, 5, 5]], ...(bias ? [[`${p}.conv.bias`, [b]]] as Spec : []), ...bn(`${p}.adn.N`, b)];
const slope = (p: string, c: number, prelu: boolean): Spec => (prelu ? [[`${p}.weight`, [c]]] : []);
const ops = (p: string, c: number, n: number, bias: boolean, prelu: boolean): Spec =>
  Array.from({ length: n }, (_, i) => [...slope(`${p}.${i}.act_function`, c, prelu), ...convBlock(`${p}.${i}.conv_block`, c, c, bias)]).flat();
/** MONAI's keys and shapes for initFilters c (16 in MONAI), in their registration order */
function expectedSpec(i: number, c: number, o: number, bias: boolean, prelu: boolean): Spec {
  const down = (p: string, a: number, n: number): Spec => [
    [`${p}.down_conv.weight`, [2 * a, a, 2, 2, 2]], ...(bias ? [[`${p}.down_conv.bias`, [2 * a]]] as Spec : []), ...bn(`${p}.bn1`, 2 * a),
    ...slope(`${p}.act_function1`, 2 * a, prelu), ...slope(`${p}.act_function2`, 2 * a, prelu), ...ops(`${p}.ops`, 2 * a, n, bias, prelu),
  ];
  const up = (p: string, a: number, out: number, n: number): Spec => [
    [`${p}.up_conv.weight`, [a, out / 2, 2, 2, 2]], [`${p}.up_conv.bias`, [out / 2]], ...bn(`${p}.bn1`, out / 2),
    ...slope(`${p}.act_function1`, out / 2, prelu), ...slope(`${p}.act_function2`, out, prelu), ...ops(`${p}.ops`, out, n, false, prelu),
  ];
  return [
    ...slope('in_tr.act_function', c, prelu), ...convBlock('in_tr.conv_block', i, c, bias),
    ...down('down_tr32', c, 1), ...down('down_tr64', 2 * c, 2), ...down('down_tr128', 4 * c, 3), ...down('down_tr256', 8 * c, 2),
    ...up('up_tr256', 16 * c, 16 * c, 2), ...up('up_tr128', 16 * c, 8 * c, 2), ...up('up_tr64', 8 * c, 4 * c, 1), ...up('up_tr32', 4 * c, 2 * c, 1),
    ...slope('out_tr.act_function1', o, prelu), ...convBlock('out_tr.conv_block', 2 * c, o, bias), ['out_tr.conv2.weight', [o, o, 1, 1, 1]], ['out_tr.conv2.bias', [o]],
  ];
}
const parameterCount = (spec: Spec): number => spec.filter(([k]) => !/running_|num_batches/.test(k)).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);

describe('MonaiVNet structure', () => {
  it("MONAI's default VNet has 45 593 892 parameters and MONAI's keys", () => {
    // inChannels 1, outChannels 1, ELU, bias false; a 5³ LUConv(c) = 125c² + 2c (its batch norm), BatchNorm(c) = 2c.
    //   in_tr 1→16: 125·16 + 32 = 2 032
    //   down_tr32 (16→32, 1 LUConv): 2³ conv 8·16·32 + bn 64 + LUConv(32) 128 064 = 132 224
    //   down_tr64 (32→64, 2): 16 384 + 128 + 2·512 128 = 1 040 768
    //   down_tr128 (64→128, 3): 65 536 + 256 + 3·2 048 256 = 6 210 560
    //   down_tr256 (128→256, 2): 262 144 + 512 + 2·8 192 512 = 16 647 680
    //   up_tr256 (256→256, 2): 2³ transposed conv 256→128 with bias 262 272 + bn 256 + 2·8 192 512 = 16 647 552
    //   up_tr128 (256→128, 2): 131 136 + 128 + 2·2 048 256 = 4 227 776
    //   up_tr64 (128→64, 1): 32 800 + 64 + 512 128 = 544 992
    //   up_tr32 (64→32, 1): 8 208 + 32 + 128 064 = 136 304
    //   out_tr 32→1: 125·32 + 2 + 1³ conv 1→1 with bias 2 = 4 004; sum 45 593 892.
    const spec = expectedSpec(1, 16, 1, false, false);
    expect(parameterCount(spec)).toBe(45_593_892);
    const net = new MonaiVNet({ seed: 1, backend: cpu });
    expect(net.numParameters()).toBe(45_593_892);
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual(spec);
    expect(net.initFilters).toBe(16);
    net.dispose();
  });

  it("the state-dict keys with biases and PReLU, and the module tree with MONAI's dropout placement", () => {
    const net = tiny({ inChannels: 2, outChannels: 3, bias: true, act: 'prelu' });
    const spec = expectedSpec(2, 2, 3, true, true);
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual(spec);
    expect(net.numParameters()).toBe(parameterCount(spec));
    // 'prelu' is one slope per channel (MONAI's get_acti_layer), 0.25 each
    expect((net.getSubmodule('up_tr64.act_function2') as PReLU).weight.shape).toEqual([8]);
    const types = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['in_tr', 'in_tr.conv_block', 'in_tr.conv_block.adn', 'in_tr.conv_block.adn.N', 'down_tr32', 'down_tr32.ops', 'down_tr32.ops.0', 'up_tr256', 'up_tr256.up_conv', 'out_tr', 'out_tr.conv2']
      .map((n) => types.get(n))).toEqual(['InputTransition', 'Convolution', 'ADN', 'BatchNorm3d', 'DownTransition', 'Sequential', 'LUConv', 'UpTransition', 'ConvTranspose3d', 'OutputTransition', 'Conv3d']);
    // dropout: down_tr128 and down_tr256 (dropoutProbDown), up_tr256 and up_tr128 (dropoutProbUp), and always dropout2 of 0.5 in up_tr64 and up_tr32
    const dropouts = (m: MonaiVNet) => m.namedModules('', false).filter(([, d]) => d instanceof Dropout3d).map(([n, d]) => [n, (d as Dropout3d).p]);
    expect(dropouts(net)).toEqual([
      ['down_tr128.dropout', 0.5], ['down_tr256.dropout', 0.5], ['up_tr256.dropout', 0.5], ['up_tr256.dropout2', 0.5],
      ['up_tr128.dropout', 0.5], ['up_tr128.dropout2', 0.5], ['up_tr64.dropout2', 0.5], ['up_tr32.dropout2', 0.5],
    ]);
    const fewer = tiny({ dropoutProbDown: null, dropoutProbUp: [null, 0.1] });
    expect(dropouts(fewer)).toEqual([['up_tr256.dropout2', 0.1], ['up_tr128.dropout2', 0.1], ['up_tr64.dropout2', 0.5], ['up_tr32.dropout2', 0.5]]);
    expect(fewer.namedChildren().map(([n]) => n)).toEqual(['in_tr', 'down_tr32', 'down_tr64', 'down_tr128', 'down_tr256', 'up_tr256', 'up_tr128', 'up_tr64', 'up_tr32', 'out_tr']);
    expect(fewer.getSubmodule('up_tr256').namedChildren().map(([n]) => n)).toEqual(['up_conv', 'bn1', 'dropout2', 'act_function1', 'act_function2', 'ops']);
    expect(net.getSubmodule('up_tr256').namedChildren().map(([n]) => n)).toEqual(['up_conv', 'bn1', 'dropout', 'dropout2', 'act_function1', 'act_function2', 'ops']);
    expect(net.getSubmodule('down_tr128').namedChildren().map(([n]) => n)).toEqual(['down_conv', 'bn1', 'act_function1', 'act_function2', 'ops', 'dropout']);
    for (const m of [net, fewer]) m.dispose();
  });

  it("activations: ELU by default, MONAI's other names and (name, args)", () => {
    const cases: [MonaiActSpec, (m: Module) => boolean][] = [
      ['elu', (m) => m instanceof ELU && m.alpha === 1],
      [['elu', { alpha: 0.5 }], (m) => m instanceof ELU && m.alpha === 0.5],
      ['relu', (m) => m instanceof ReLU],
      ['leakyrelu', (m) => m instanceof LeakyReLU && m.negativeSlope === 0.01],
      [['prelu', { numParameters: 1, init: 0.1 }], (m) => m instanceof PReLU && m.weight.shape[0] === 1],
    ];
    for (const [act, isIt] of cases) {
      const net = tiny({ act });
      const acts = [net.getSubmodule('in_tr.act_function'), net.getSubmodule('down_tr64.ops.1.act_function'), net.getSubmodule('out_tr.act_function1')];
      expect(acts.every(isIt), JSON.stringify(act)).toBe(true);
      net.dispose();
    }
    expect(tiny().getSubmodule('up_tr32.act_function2')).toBeInstanceOf(ELU);
  });

  it("PyTorch's default initialisation, seeded by module path", async () => {
    const net = tiny();
    // kaiming_uniform(a = √5): U(±1/√fan_in), fan_in = 8 · 5³ for the LUConv of down_tr64 (8 channels); the transposed
    // conv's is its weight's size(1)·k³ = (16/2)·2³, its bias's the same (4 values: only bounded)
    for (const [key, fanIn] of [['down_tr64.ops.0.conv_block.conv.weight', 8 * 125], ['up_tr128.up_conv.weight', 8 * 8], ['up_tr128.up_conv.bias', 8 * 8]] as const) {
      const w = await net.getParameter(key).toArray();
      const bound = 1 / Math.sqrt(fanIn);
      const max = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(max, key).toBeLessThanOrEqual(bound);
      if (w.length > 100) expect(max, key).toBeGreaterThan(0.99 * bound);
    }
    expect(net.getSubmodule('up_tr128.up_conv')).toBeInstanceOf(ConvTranspose3d);
    const [again, other] = [tiny(), tiny({ seed: 4 })];
    const key = 'up_tr128.ops.0.conv_block.conv.weight';
    expect(Array.from(await again.getParameter(key).toArray())).toEqual(Array.from(await net.getParameter(key).toArray()));
    expect(Array.from(await other.getParameter(key).toArray())).not.toEqual(Array.from(await net.getParameter(key).toArray()));
    for (const m of [net, again, other]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout (MONAI's keys: running statistics, batch counters, PReLU slopes) loads strictly", async () => {
    const net = tiny({ act: 'prelu', bias: true });
    const host = loadDistinctSafetensors(net, 5);
    for (const key of ['down_tr64.ops.1.conv_block.conv.weight', 'up_tr32.up_conv.bias', 'in_tr.conv_block.adn.N.running_mean', 'out_tr.act_function1.weight']) {
      expect(Array.from(await net.stateDict().get(key)!.toArray()), key).toEqual(Array.from(host.get(key)!.data));
    }
    expect(await net.stateDict().get('up_tr128.bn1.num_batches_tracked')!.item()).toBe(5);
    net.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const [odd, two] = [rand([2, 1, 16, 8, 16], 1, { backend: cpu }), rand([2, 2, 16, 16, 16], 2, { backend: cpu })];
    expect(() => net.forward(odd)).toThrow(/^MonaiVNet: input \[2, 1, 16, 8, 16\]: the spatial extents must be divisible by 16 \(four 2³ stride-2 downsamplings\)$/);
    expect(() => net.forward(two)).toThrow(/^MonaiVNet: input must be \[N, 1, D, H, W\], got \[2, 2, 16, 16, 16\]$/);
    dispose([odd, two]);
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ inChannels: 3 })).toThrow(/^MonaiVNet: inChannels must be a positive divisor of initFilters 2 \(the input transition's channels\), got 3$/);
    expect(() => new MonaiVNet({ inChannels: 3, backend: cpu })).toThrow(/initFilters 16/);
    expect(() => tiny({ outChannels: 0 })).toThrow(/^MonaiVNet: outChannels must be a positive integer, got 0$/);
    expect(() => tiny({ initFilters: 1.5 })).toThrow(/^MonaiVNet: initFilters must be a positive integer, got 1\.5$/);
    expect(() => tiny({ dropoutProbDown: 2 })).toThrow(/^MonaiVNet: dropoutProbDown must be in \[0, 1\] or null, got 2$/);
    expect(() => tiny({ dropoutProbUp: [0.5, null] as unknown as [number, number] })).toThrow(/^MonaiVNet: dropoutProbUp must be \[p or null, p\] with p in \[0, 1\], got \[0\.5,null\]$/);
    expect(() => tiny({ dropoutProbUp: [0.5] as unknown as [number, number] })).toThrow(/^MonaiVNet: dropoutProbUp must be/);
    expect(() => tiny({ dropoutDim: 1 as 3 })).toThrow(/^MonaiVNet: dropoutDim must be 3 \(MONAI's VNet ignores it: every dropout is a Dropout3d\), got 1$/);
    expect(() => tiny({ bias: 1 as unknown as boolean })).toThrow(/^MonaiVNet: bias must be a boolean, got 1$/);
    expect(() => tiny({ act: 'swish' as 'elu' })).toThrow(/^MonaiVNet: unknown act "swish"/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^MonaiVNet: only spatialDims 3 is supported, got 2$/);
    const ctx: MonaiVNetTransitionContext = { act: 'elu', seed: 1, backend: cpu };
    expect(() => new InputTransition(3, 4, false, 'in_tr', ctx)).toThrow(/^MonaiVNet: in_tr: out channels 4 must be divisible by inChannels 3$/);
    net.dispose();
  });
});

/** the activation of `act` by hand: ELU (1), or PReLU with the slopes of the layer at `key` */
type Act = (t: Tensor, key: string) => Tensor;

/**
 * MonaiVNet written out with the functional ops, reading the weights by MONAI's names; batch norms on batch statistics
 * (training) or the running ones (eval); in training each dropout draws the mask the layer's next forward will
 */
function vnetByHand(net: MonaiVNet, x: Tensor, act: Act): Tensor {
  const training = net.training;
  const w = (key: string) => net.getParameter(key);
  const has = (key: string) => net.namedParameters().some(([k]) => k === key);
  const norm = (t: Tensor, key: string) => {
    const m = net.getSubmodule(key) as BatchNorm3d;
    return batchNorm(t, training ? null : m.runningMean, training ? null : m.runningVar, w(`${key}.weight`), w(`${key}.bias`), { training });
  };
  const drop = (t: Tensor, key: string) => {
    const d = net.namedModules('', false).find(([k]) => k === key)?.[1] as Dropout3d | undefined;
    return d ? dropout3d(t, d.p, training, d.nextMaskSeed()) : t;
  };
  const convBlock = (t: Tensor, key: string) =>
    norm(conv3d(t, w(`${key}.conv.weight`), has(`${key}.conv.bias`) ? w(`${key}.conv.bias`) : null, { padding: 2 }), `${key}.adn.N`);
  const ops = (t: Tensor, key: string, n: number) => {
    for (let i = 0; i < n; i++) t = act(convBlock(t, `${key}.${i}.conv_block`), `${key}.${i}.act_function`);
    return t;
  };
  const down = (t: Tensor, key: string, n: number) => {
    const d = act(norm(conv3d(t, w(`${key}.down_conv.weight`), has(`${key}.down_conv.bias`) ? w(`${key}.down_conv.bias`) : null, { stride: 2 }), `${key}.bn1`), `${key}.act_function1`);
    return act(add(ops(drop(d, `${key}.dropout`), `${key}.ops`, n), d), `${key}.act_function2`);
  };
  const up = (t: Tensor, skip: Tensor, key: string, n: number) => {
    const u = act(norm(convTranspose3d(drop(t, `${key}.dropout`), w(`${key}.up_conv.weight`), w(`${key}.up_conv.bias`), { stride: 2 }), `${key}.bn1`), `${key}.act_function1`);
    const joined = concat([u, drop(skip, `${key}.dropout2`)], 1);
    return act(add(ops(joined, `${key}.ops`, n), joined), `${key}.act_function2`);
  };
  const out16 = act(add(convBlock(x, 'in_tr.conv_block'), repeat(x, [1, net.initFilters / net.inChannels, 1, 1, 1])), 'in_tr.act_function');
  const out32 = down(out16, 'down_tr32', 1), out64 = down(out32, 'down_tr64', 2), out128 = down(out64, 'down_tr128', 3), out256 = down(out128, 'down_tr256', 2);
  let y = up(out256, out128, 'up_tr256', 2);
  y = up(y, out64, 'up_tr128', 2);
  y = up(y, out32, 'up_tr64', 1);
  y = up(y, out16, 'up_tr32', 1);
  return conv3d(act(convBlock(y, 'out_tr.conv_block'), 'out_tr.act_function1'), w('out_tr.conv2.weight'), w('out_tr.conv2.bias'));
}

const f64 = (shape: number[], seed: number) =>
  fromArray(randomArray(shape.reduce((a, b) => a * b, 1), seed, -1, 1), shape, { backend: cpu, dtype: 'float64' });


describe('MonaiVNet forward and backward (cpu, float64)', () => {
  it.each([
    ['ELU, bias false', { initFilters: 1 }, ((t) => elu(t)) as Act],
    ['PReLU per channel, biases, two input channels', { act: 'prelu', bias: true, inChannels: 2, outChannels: 2 }, null],
  ] as const)('equals the network written out with conv3d, batchNorm, elu/prelu, dropout3d, convTranspose3d, repeat and concat, in training and in eval (%s)', async (_, options, eluAct) => {
    const net = tiny(options as Partial<MonaiVNetOptions>);
    await toFloat64(net);
    const act: Act = eluAct ?? ((t, key) => prelu(t, net.getParameter(`${key}.weight`)));
    const x = f64([2, net.inChannels, 16, 16, 16], 5);
    net.train();
    // the by-hand network first: it reads the masks the layers' next forward draws
    const want = noGrad(() => tidy(() => vnetByHand(net, x, act)));
    const got = noGrad(() => net.forward(x));
    expect(got.shape).toEqual([2, net.outChannels, 16, 16, 16]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    // eval: the running statistics that training forward updated, no dropout
    net.eval();
    const [evalGot, evalWant] = noGrad(() => [net.forward(x), tidy(() => vnetByHand(net, x, act))]);
    await expectSameAsWrittenOut(evalGot, evalWant, 1e-12);
    dispose([x, want, got, evalGot, evalWant]);
    net.dispose();
  });

  it.each(['elu', 'prelu'] as const)('a tiny stack of the four transitions passes a float64 gradient check in training (act %s, dropouts with fixed masks)', async (act) => {
    const ctx: MonaiVNetTransitionContext = { act, seed: 9, backend: cpu };
    class Stack extends Module {
      readonly inTr = this.registerModule('in_tr', new InputTransition(1, 2, true, 'in_tr', ctx));
      readonly down = this.registerModule('down', new DownTransition(2, 1, 0.3, true, 'down', ctx));
      readonly up = this.registerModule('up', new UpTransition(4, 4, 1, [0.2, 0.3], 'up', ctx));
      readonly outTr = this.registerModule('out_tr', new OutputTransition(4, 2, true, 'out_tr', ctx));
      readonly lu = this.registerModule('lu', new LUConv(2, true, 'lu', ctx));
      forward(x: Tensor): Tensor {
        const a = this.inTr.forward(x);
        return this.lu.forward(this.outTr.forward(this.up.forward(this.down.forward(a), a)));
      }
    }
    const stack = new Stack();
    await toFloat64(stack);
    const r = await gradcheck((x) => { stack.seedDropout(1); return stack.forward(x); }, [{ data: randomArray(64, 7, -1, 1), shape: [1, 1, 4, 4, 4] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    // the three dropouts (down's, up's two) were in the graph checked
    expect(stack.modules().filter((m) => m instanceof Dropout3d)).toHaveLength(3);
    stack.dispose();
  });

  it('the whole network (initFilters 1, training, dropouts with fixed masks) passes a directional float64 gradient check', async () => {
    // the network with its dropout masks fixed: each call draws the masks of seed 1
    class FixedMasks extends Module {
      readonly net = this.registerModule('net', tiny({ initFilters: 1 }));
      forward(x: Tensor): Tensor {
        this.net.seedDropout(1);
        return this.net.forward(x);
      }
    }
    const fixed = new FixedMasks();
    await expectDirectionalGradcheck(fixed, [2, 1, 16, 16, 16], 2);
    fixed.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the cross-entropy of two balls; every parameter gets a gradient', async () => {
    const side = 16;
    const labels = [[5, 5, 6, 3.5], [10, 9, 8, 4.5]].map(([cz, cy, cx, r]) => Int32Array.from({ length: side ** 3 }, (_, i) =>
      (Math.floor(i / side / side) - cz) ** 2 + ((Math.floor(i / side) % side) - cy) ** 2 + ((i % side) - cx) ** 2 < r * r ? 1 : 0));
    const label = Int32Array.from([...labels[0], ...labels[1]]);
    const image = fromArray(Float32Array.from(label, (v, i) => v + 0.3 * Math.sin(i * 12.9898)), [2, 1, side, side, side], { backend: cpu });
    const target = fromArray(label, [2, side, side, side], { backend: cpu });
    const net = tiny({ initFilters: 1, outChannels: 2, dropoutProbDown: null, dropoutProbUp: [null, 0], seed: 11 });
    // up_tr64 and up_tr32 keep MONAI's dropout2 of 0.5: the same masks every step
    const lossOf = () => tidy(() => { net.seedDropout(0); return crossEntropy(net.forward(image), target); });
    const losses = await adamLosses(net, lossOf, 4, 0.05);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
