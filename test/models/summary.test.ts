import { describe, expect, it } from 'vitest';
import {
  BatchNorm3d, Conv3d, Linear, MaxPool3d, Module, ReLU, Sequential, VNet, summary,
} from '../../src/models/index.js';
import { memory, randn, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

describe('summary (torchinfo)', () => {
  it('lists every module in tree order with its output shape and parameter count; leaves the model as it was', () => {
    const net = new Sequential(
      new Conv3d(1, 2, 3, { padding: 1, seed: 1, backend: cpu }), new BatchNorm3d(2, { backend: cpu }), new ReLU(),
      new MaxPool3d(2),
    );
    const before = memory(cpu).liveTensors;
    const s = summary(net, [2, 1, 4, 4, 4], { print: false });
    expect(memory(cpu).liveTensors).toBe(before);
    expect(s.rows.map((r) => [r.name, r.type, r.depth, r.outputShapes.map((o) => o.shape), r.params])).toEqual([
      ['', 'Sequential', 0, [[2, 2, 2, 2, 2]], 2 * 27 + 2 + 4],
      ['0', 'Conv3d', 1, [[2, 2, 4, 4, 4]], 2 * 27 + 2],
      ['1', 'BatchNorm3d', 1, [[2, 2, 4, 4, 4]], 4],
      ['2', 'ReLU', 1, [[2, 2, 4, 4, 4]], 0], // the norm → ReLU pair ran unfused, so the ReLU has its row
      ['3', 'MaxPool3d', 1, [[2, 2, 2, 2, 2]], 0],
    ]);
    expect(s.totalParams).toBe(60);
    expect(s.trainableParams).toBe(60);
    expect(s.table).toMatch(/0 \(Conv3d\)\s+\[2, 2, 4, 4, 4\]\s+56/);
    expect(s.table).toMatch(/Total params: 60/);
    // train mode, running statistics and the forwards are as before
    expect(net.training && net.at(1).training).toBe(true);
    expect(net.namedBuffers().find(([n]) => n === '1.num_batches_tracked')).toBeDefined();
    expect((net.at(1) as BatchNorm3d).batchesSinceLoad).toBe(0);
    expect(net.modules().every((m) => !Object.hasOwn(m, 'forward') && !Object.hasOwn(m, 'fusedWith'))).toBe(true);
    net.dispose();
  });

  it('a model with several outputs and a module called twice (V-Net with two heads and dropout), a given input', () => {
    const net = new VNet({
      nFilters: 2, heads: [{ name: 'out_conv', channels: 1 }, { name: 'out_conv2', channels: 1, activation: 'tanh' }],
      hasDropout: true, seed: 0, backend: cpu,
    });
    const x = randn([1, 1, 16, 16, 16], 3, { backend: cpu });
    const s = summary(net, x, { print: false });
    const row = (name: string) => s.rows.find((r) => r.name === name)!;
    expect(row('').outputShapes).toEqual([{ key: 'out_conv', shape: [1, 1, 16, 16, 16] }, { key: 'out_conv2', shape: [1, 1, 16, 16, 16] }]);
    expect(row('block_five').outputShapes[0].shape).toEqual([1, 32, 1, 1, 1]);
    expect(row('dropout').calls).toBe(2);
    expect(row('').params).toBe(net.numParameters());
    expect(s.rows.length).toBe(net.namedModules().length);
    x.dispose();
    net.dispose();
  });

  it('a hand-written module whose layers are assigned (not registered by hand) is summarised fully', () => {
    class Mlp extends Module {
      fc1 = new Linear(3, 5, { seed: 1, backend: cpu });
      act = new ReLU();
      fc2 = new Linear(5, 2, { seed: 2, backend: cpu });
      forward(x: Tensor): Tensor { return this.fc2.forward(this.act.forward(this.fc1.forward(x))); }
    }
    const m = new Mlp();
    const s = summary(m, [4, 3], { print: false });
    expect(s.rows.map((r) => `${r.name}:${r.outputShapes[0]?.shape.join('x')}:${r.params}`)).toEqual([':4x2:32', 'fc1:4x5:20', 'act:4x5:0', 'fc2:4x2:12']);
    m.dispose();
  });
});
