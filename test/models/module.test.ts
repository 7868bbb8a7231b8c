import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { backward, mean, square } from '../../src/autograd/index.js';
import {
  BatchNorm3d, Conv3d, ConvTranspose3d, GroupNorm, InstanceNorm3d, Linear, MaxPool3d, Module, Parameter, ReLU, Sequential,
  fanIn, manualSeed, triple,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

class Net extends Module {
  readonly body: Sequential;
  readonly head: Linear;
  constructor(seed: number) {
    super();
    this.body = this.registerModule('body', new Sequential(new Linear(3, 4, { seed, backend: cpu }), new ReLU()));
    this.head = this.registerModule('head', new Linear(4, 2, { seed: seed + 1, backend: cpu }));
  }
  forward(x: Tensor): Tensor { return this.head.forward(this.body.forward(x)); }
}

describe('Module and Parameter', () => {
  it('registers parameters, buffers and submodules under dotted PyTorch names', () => {
    const net = new Net(1);
    expect(net.namedParameters().map(([n]) => n)).toEqual(['body.0.weight', 'body.0.bias', 'head.weight', 'head.bias']);
    expect(net.parameters().every((p) => p instanceof Parameter && p.requiresGrad)).toBe(true);
    expect(net.numParameters()).toBe(3 * 4 + 4 + 4 * 2 + 2);
    const bn = new Sequential(new Conv3d(2, 3, 3, { seed: 1, backend: cpu }), new BatchNorm3d(3, { backend: cpu }));
    expect([...bn.stateDict().keys()]).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked',
    ]);
    const counter = bn.namedBuffers().find(([n]) => n === '1.num_batches_tracked')![1];
    expect(counter.dtype).toBe('int32');
    expect(counter.shape).toEqual([]);
    expect(() => net.registerParameter('body', null)).toThrow(/already registered/);
    expect(() => net.registerModule('a.b', new ReLU())).toThrow(/invalid name/);
    net.dispose();
    bn.dispose();
  });

  it('PyTorch default init: U(±1/√fan_in), ConvTranspose3d fan_in from weight.size(1), reproducible per seed', async () => {
    expect(fanIn([16, 8, 3, 3, 3])).toBe(8 * 27);
    expect(fanIn([32, 16, 2, 2, 2])).toBe(16 * 8); // ConvTranspose3d(32 → 16): weight [in, out, k…], fan_in = out·k³
    const conv = new Conv3d(8, 16, 3, { seed: 5, backend: cpu });
    const convT = new ConvTranspose3d(32, 16, 2, { stride: 2, seed: 5, backend: cpu });
    const lin = new Linear(10, 3, { seed: 5, backend: cpu });
    for (const [layer, fan] of [[conv, 8 * 27], [convT, 16 * 8], [lin, 10]] as const) {
      const bound = 1 / Math.sqrt(fan);
      for (const p of [layer.weight, layer.bias!]) {
        const v = Array.from(await p.toArray());
        expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
        expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.8 * bound);
        if (v.length >= 100) expect(Math.abs(v.reduce((a, b) => a + b, 0) / v.length)).toBeLessThan(0.2 * bound);
      }
    }
    expect(convT.weight.shape).toEqual([32, 16, 2, 2, 2]);
    const again = new Conv3d(8, 16, 3, { seed: 5, backend: cpu });
    expect(Array.from(await again.weight.toArray())).toEqual(Array.from(await conv.weight.toArray()));
    const other = new Conv3d(8, 16, 3, { seed: 6, backend: cpu });
    expect(Array.from(await other.weight.toArray())).not.toEqual(Array.from(await conv.weight.toArray()));
    // unseeded layers draw from the global generator: reproducible after manualSeed
    manualSeed(42);
    const a = new Linear(4, 4, { backend: cpu });
    manualSeed(42);
    const b = new Linear(4, 4, { backend: cpu });
    expect(Array.from(await a.weight.toArray())).toEqual(Array.from(await b.weight.toArray()));
    for (const m of [conv, convT, lin, again, other, a, b]) m.dispose();
  });

  it("Conv3d padding 'same' and 'valid' (PyTorch's): the output keeps the input's size, or no padding", () => {
    const x = rand([1, 2, 7, 6, 5], 3, { backend: cpu });
    const same = new Conv3d(2, 3, [3, 5, 1], { padding: 'same', dilation: [2, 1, 1], backend: cpu });
    expect(same.padding).toEqual([2, 2, 0]);
    const y = same.forward(x);
    expect(y.shape).toEqual([1, 3, 7, 6, 5]);
    const valid = new Conv3d(2, 3, 3, { padding: 'valid', backend: cpu });
    expect(valid.padding).toEqual([0, 0, 0]);
    valid.dispose();
    expect(() => new Conv3d(2, 3, 3, { padding: 'same', stride: 2, backend: cpu })).toThrow(/^Conv3d: padding='same' needs stride 1, got stride \[2, 2, 2\]$/);
    expect(new Conv3d(2, 3, [3, 2, 3], { padding: 'same', backend: cpu }).extraEndPadding).toEqual([0, 1, 0]);
    dispose([x, y]);
    same.dispose();
  });

  it('int-or-triple layer arguments: one integer stands for all three; negative or fractional values are refused by name', () => {
    expect(triple(2)).toEqual([2, 2, 2]);
    expect(triple([1, 2, 3], 'size')).toEqual([1, 2, 3]);
    expect(new Conv3d(1, 1, [3, 1, 1], { padding: 1, backend: cpu }).padding).toEqual([1, 1, 1]);
    expect(() => new Conv3d(1, 1, 3, { padding: -1, backend: cpu })).toThrow(/^Conv3d padding must be non-negative integers, got \[-1, -1, -1\]$/);
    expect(() => new MaxPool3d(2, { stride: [2, 1.5, 2] })).toThrow(/^MaxPool3d stride must be an integer or three integers, got \[2,1.5,2\]$/);
    expect(() => triple([1, 2] as unknown as [number, number, number])).toThrow(/^value must be an integer or three integers, got \[1,2\]$/);
  });

  it('norm layers: BatchNorm3d 1/0/0/1, GroupNorm affine, InstanceNorm3d without parameters (PyTorch defaults)', async () => {
    const bn = new BatchNorm3d(4, { backend: cpu });
    expect(Array.from(await bn.weight!.toArray())).toEqual([1, 1, 1, 1]);
    expect(Array.from(await bn.bias!.toArray())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await bn.runningVar!.toArray())).toEqual([1, 1, 1, 1]);
    expect(new InstanceNorm3d(4, { backend: cpu }).numParameters()).toBe(0);
    expect(new GroupNorm(2, 4, { backend: cpu }).numParameters()).toBe(8);
    expect(() => new GroupNorm(3, 4, { backend: cpu })).toThrow(/groups/);
    bn.dispose();
  });

  it('BatchNorm3d counts batches into num_batches_tracked and updates running stats; eval uses them', async () => {
    const bn = new BatchNorm3d(2, { backend: cpu });
    const x = rand([2, 2, 2, 2, 2], 3, { backend: cpu });
    tidy(() => { bn.forward(x); bn.forward(x); });
    const sd = bn.stateDict();
    expect(Array.from(await sd.get('num_batches_tracked')!.toArray())).toEqual([2]);
    const rm = await sd.get('running_mean')!.toArray();
    expect(rm[0]).toBeGreaterThan(0.05); // (1 − 0.9²) · mean ≈ 0.19 · 0.5
    dispose(sd);
    bn.eval();
    expect(bn.training).toBe(false);
    tidy(() => bn.forward(x));
    const sd2 = bn.stateDict();
    expect(Array.from(await sd2.get('num_batches_tracked')!.toArray())).toEqual([2]);
    dispose(sd2);
    dispose(x);
    bn.dispose();
  });

  it('Sequential fuses norm → ReLU (BatchNorm3d, GroupNorm, InstanceNorm3d, with and without affine) into one op with the results of the two layers', async () => {
    const build = () => new Sequential(
      new Conv3d(2, 4, 3, { seed: 11, padding: 1, backend: cpu }), new BatchNorm3d(4, { backend: cpu }), new ReLU(),
      new Conv3d(4, 4, 1, { seed: 12, backend: cpu }), new GroupNorm(2, 4, { backend: cpu }), new ReLU(),
      new InstanceNorm3d(4, { affine: true, backend: cpu }), new ReLU(),
      new BatchNorm3d(4, { affine: false, backend: cpu }), new ReLU(), new InstanceNorm3d(4, { backend: cpu }), new ReLU(), new ReLU());
    const fused = build(), plain = build();
    // the unfused reference: every layer on its own
    const runPlain = (x: Tensor) => tidy(() => plain.layers.reduce((h, l) => l.forward(h), x));
    for (const training of [true, false]) {
      fused.train(training);
      plain.train(training);
      const x = rand([2, 2, 3, 2, 3], 21, { backend: cpu }), g = rand([2, 4, 3, 2, 3], 22, { backend: cpu });
      const y = fused.forward(x), yPlain = runPlain(x);
      // the last ReLU follows a ReLU, not a norm: it stays a layer of its own; the one before it is fused
      expect(y.gradNode?.name).toBe('relu');
      expect(y.gradNode?.inputs[0].gradNode?.name).toBe('instanceNorm');
      expect(yPlain.gradNode?.inputs[0].gradNode?.name).toBe('relu');
      expectClose(await y.toArray(), await yPlain.toArray(), 1e-6, 1e-5, `forward, training ${training}`);
      backward(y, g);
      backward(yPlain, g);
      const [a, b] = [fused.namedParameters(), plain.namedParameters()];
      for (const [[name, p], [, q]] of a.map((e, i) => [e, b[i]] as const)) {
        expectClose(await p.grad!.toArray(), await q.grad!.toArray(), 1e-5, 1e-4, `gradient of ${name}, training ${training}`);
      }
      const [sa, sb] = [fused.stateDict(), plain.stateDict()];
      expect([...sa.keys()]).toEqual([...sb.keys()]);
      for (const [k, v] of sa) expectClose(await v.toArray(), await sb.get(k)!.toArray(), 1e-6, 1e-5, `${k}, training ${training}`);
      fused.zeroGrad();
      plain.zeroGrad();
      dispose([x, g, y, yPlain, sa, sb]);
    }
    fused.dispose();
    plain.dispose();
  });

  it('a Sequential holds only what backward saved: conv → norm+ReLU twice keeps 4 activations, the layers run by hand 6', () => {
    const seq = new Sequential(
      new Conv3d(2, 4, 3, { seed: 31, padding: 1, backend: cpu }), new BatchNorm3d(4, { backend: cpu }), new ReLU(),
      new Conv3d(4, 4, 3, { seed: 32, padding: 1, backend: cpu }), new BatchNorm3d(4, { backend: cpu }), new ReLU());
    const x = rand([2, 2, 4, 4, 4], 33, { backend: cpu });
    const activation = 2 * 4 * 64 * 4; // bytes of one [2, 4, 4, 4, 4] float32 tensor
    const liveAfter = (run: () => Tensor | Tensor[]): number => {
      const before = cpu.memory().liveBytes;
      const y = run();
      const grown = cpu.memory().liveBytes - before;
      dispose(y);
      return grown;
    };
    // saved: each conv's output (the norm's input), each fused norm+ReLU output (the next conv's input, the mask)
    const fused = liveAfter(() => seq.forward(x));
    expect(fused).toBeGreaterThanOrEqual(4 * activation);
    expect(fused).toBeLessThan(4 * activation + 1024); // + the per-channel statistics
    // the same layers called one after another, every output kept (what the step did before): 6 activations
    const byHand = liveAfter(() => seq.layers.reduce<Tensor[]>((outs, l) => [...outs, l.forward(outs.at(-1) ?? x)], []));
    expect(byHand).toBeGreaterThanOrEqual(6 * activation);
    // an output nothing saves (max pooling keeps only its indices) is freed when the Sequential returns
    const pool = new Sequential(new Conv3d(2, 4, 3, { seed: 34, padding: 1, backend: cpu }), new MaxPool3d(2));
    const pooled = activation / 8; // the [2, 4, 2, 2, 2] values, and as many int32 indices
    expect(liveAfter(() => pool.forward(x))).toBe(2 * pooled);
    expect(liveAfter(() => pool.layers.reduce<Tensor[]>((outs, l) => [...outs, l.forward(outs.at(-1) ?? x)], []))).toBe(activation + 2 * pooled);
    pool.dispose();
    dispose(x);
    seq.dispose();
  });

  it('stateDict / loadStateDict round trip; strict errors name every missing, unexpected and mismatched key', async () => {
    const a = new Net(1), b = new Net(2);
    const sd = a.stateDict();
    b.loadStateDict(sd);
    for (const [[n, pa], [, pb]] of a.namedParameters().map((e, i) => [e, b.namedParameters()[i]] as const)) {
      expect(Array.from(await pb.toArray()), n).toEqual(Array.from(await pa.toArray()));
    }
    // the state dict holds views: disposing it leaves the model intact
    dispose(sd);
    expect(a.parameters().every((p) => !p.isDisposed)).toBe(true);

    const bad = new Map<string, Tensor>([
      ['body.0.weight', fromArray(new Float32Array(12), [3, 4], { backend: cpu })],
      ['head.weight', fromArray(new Float32Array(8), [2, 4], { backend: cpu })],
      ['extra.thing', fromArray([1], [1], { backend: cpu })],
    ]);
    let message = '';
    try { b.loadStateDict(bad); } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/size mismatch for body\.0\.weight: checkpoint \[3, 4\], model \[4, 3\]/);
    expect(message).toMatch(/missing keys: body\.0\.bias, head\.bias/);
    expect(message).toMatch(/unexpected keys: extra\.thing/);
    expect(message).not.toMatch(/head\.weight/);
    // non-strict: the shape mismatch is still an error; without it, missing and unexpected are reported
    expect(() => b.loadStateDict(bad, false)).toThrow(/size mismatch/);
    bad.get('body.0.weight')!.dispose();
    bad.delete('body.0.weight');
    const r = b.loadStateDict(bad, false);
    expect(r.missingKeys).toEqual(['body.0.weight', 'body.0.bias', 'head.bias']);
    expect(r.unexpectedKeys).toEqual(['extra.thing']);
    dispose(bad);
    const intIntoFloat = new Map([['head.bias', fromArray(new Int32Array(2), [2], { backend: cpu })]]);
    expect(() => b.loadStateDict(intIntoFloat, false)).toThrow(/dtype mismatch for head\.bias/);
    dispose(intIntoFloat);
    // what readSafetensors returns (host tensors), or a plain object, is named, not a TypeError from inside
    const host = new Map([['head.bias', { dtype: 'float32', shape: [2], data: new Float32Array(2) }]]);
    expect(() => b.loadStateDict(host as never, false)).toThrow(/head\.bias: not a Tensor; host tensors \(readSafetensors' tensors\) load with loadHostStateDict/);
    expect(() => b.loadStateDict({ 'head.bias': host.get('head.bias') } as never)).toThrow(/^Net\.loadStateDict: the state dict must be a Map of name → Tensor, as stateDict\(\) returns; got \[object Object\]/);
    a.dispose();
    b.dispose();
  });

  it('console.log(model) prints the module tree (PyTorch\'s print(model)), not the object\'s internals', () => {
    const net = new Net(4);
    expect(inspect(net)).toBe(net.toString());
    expect(inspect(net)).toMatch(/^Net\(\)  # 26 params\n  \(body\): Sequential\(\)/);
    net.dispose();
  });

  it('train()/eval() propagate; zeroGrad drops gradients; dispose frees everything', () => {
    const before = memory(cpu);
    const net = new Net(3);
    net.eval();
    expect(net.namedModules().every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect(net.head.training).toBe(true);
    const x = fromArray([1, 2, 3, -1, 0, 1], [2, 3], { backend: cpu });
    const loss = tidy(() => mean(square(net.forward(x))));
    backward(loss);
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    dispose([x, loss]);
    net.dispose();
    expect(memory(cpu).liveBuffers).toBe(before.liveBuffers);
    expect(memory(cpu).liveTensors).toBe(before.liveTensors);
  });

  it('parameters built inside tidy survive the scope (modules own them)', async () => {
    const net = tidy(() => new Net(4));
    expect(net.parameters().every((p) => !p.isDisposed)).toBe(true);
    expect((await net.head.weight.toArray()).length).toBe(8);
    net.dispose();
  });

  it('Linear forward is x Wᵀ + b', async () => {
    const lin = new Linear(3, 2, { seed: 1, backend: cpu });
    const w = await lin.weight.toArray(), b = await lin.bias!.toArray();
    const x = fromArray([1, 2, 3], [1, 3], { backend: cpu });
    const y = await tidy(() => lin.forward(x)).toArray();
    expectClose(y, [0, 1].map((o) => w[o * 3] + 2 * w[o * 3 + 1] + 3 * w[o * 3 + 2] + b[o]), 1e-6, 1e-6);
    dispose(x);
    lin.dispose();
  });

  it('toString prints the tree with shapes and parameter counts', () => {
    const net = new Net(1);
    const s = net.toString();
    expect(s).toContain('Net()  # 26 params');
    expect(s).toContain('(body): Sequential()  # 16 params');
    expect(s).toContain('(0): Linear(in_features=3, out_features=4, bias=True)  # weight [4, 3], bias [4]; 16 params');
    expect(s).toContain('(1): ReLU()');
    expect(s).toContain('(head): Linear(in_features=4, out_features=2, bias=True)  # weight [2, 4], bias [2]; 10 params');
    expect(s.trim().split('\n').at(-1)).toBe('total parameters: 26');
    net.dispose();
  });
});
