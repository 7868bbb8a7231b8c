import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Adam, BatchNorm3d, Conv3d, Linear, Module, ModuleDict, ModuleList, Parameter, ReLU, SGD, Sequential, VNet,
  makeBuffer,
} from '../../src/models/index.js';
import { dispose, memory, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** A module written as in PyTorch: layers assigned to properties, nothing registered by hand. */
class Plain extends Module {
  readonly conv: Conv3d;
  readonly norm = new BatchNorm3d(2, { backend: cpu }); // a class field ([[Define]] semantics)
  readonly scale: Parameter;
  readonly blocks = new ModuleList([new Linear(2, 3, { seed: 2, backend: cpu }), new ReLU()]);
  readonly heads = new ModuleDict({ seg: new Linear(3, 1, { seed: 3, backend: cpu }), sdf: new Linear(3, 1, { seed: 4, backend: cpu }) });
  constructor() {
    super();
    this.conv = new Conv3d(1, 2, 3, { seed: 1, backend: cpu });
    this.scale = Parameter.full([1], 2, { backend: cpu });
  }
}

describe('attribute registration (PyTorch __setattr__)', () => {
  it('Modules and Parameters assigned to properties or class fields register under the property name, in order', () => {
    const m = new Plain();
    expect(m.namedParameters().map(([n]) => n)).toEqual([
      'scale', 'norm.weight', 'norm.bias', 'blocks.0.weight', 'blocks.0.bias',
      'heads.seg.weight', 'heads.seg.bias', 'heads.sdf.weight', 'heads.sdf.bias', 'conv.weight', 'conv.bias',
    ]);
    // class fields are defined before the constructor body runs, as in JavaScript
    expect(m.namedChildren().map(([n]) => n)).toEqual(['norm', 'blocks', 'heads', 'conv']);
    expect(m.blocks.length).toBe(2);
    expect(m.blocks.at(-1)).toBeInstanceOf(ReLU);
    expect([...m.heads]).toEqual(['seg', 'sdf']);
    expect(m.heads.get('sdf').weight.shape).toEqual([1, 3]);
    expect(() => m.heads.get('edge')).toThrow(/no module 'edge' \(keys: seg, sdf\)/);
    expect(() => m.blocks.at(2)).toThrow(/index 2 is out of range for 2 modules/);
    const sd = m.stateDict();
    expect([...sd.keys()]).toContain('norm.running_mean');
    expect(sd.size).toBe(11 + 3);
    dispose(sd);
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    expect(opt.params.length).toBe(11);
    m.dispose();
  });

  it('reassignment replaces in place (same key position); null clears; delete forgets; kinds do not mix', () => {
    const live = memory(cpu).liveTensors;
    const m = new Plain();
    const oldConv = m.conv;
    (m as { conv: Conv3d }).conv = new Conv3d(1, 4, 1, { seed: 9, backend: cpu });
    expect(m.namedChildren().map(([n]) => n)).toEqual(['norm', 'blocks', 'heads', 'conv']);
    expect(m.stateSpec().get('conv.weight')!.shape).toEqual([4, 1, 1, 1, 1]);
    oldConv.dispose(); // a replaced module is handed back to the caller
    // a tensor assigned to a buffer's name replaces the buffer (the old one is disposed)
    const norm = m.norm as unknown as Record<string, Tensor>;
    const fresh = makeBuffer([5, 6], [2], 'float32', cpu);
    norm.running_mean = fresh;
    expect(m.namedBuffers().find(([n]) => n === 'norm.running_mean')![1]).toBe(fresh);
    const bias = m.norm.bias!, scale = m.scale;
    (m.norm as unknown as { bias: null }).bias = null;
    expect(m.namedParameters().map(([n]) => n)).not.toContain('norm.bias');
    expect([...m.stateSpec().keys()]).not.toContain('norm.bias');
    delete (m as { scale?: Parameter }).scale;
    expect(m.namedParameters().map(([n]) => n)).not.toContain('scale');
    const stray = Parameter.full([1], 0, { backend: cpu });
    expect(() => { (m as unknown as { conv: Parameter }).conv = stray; })
      .toThrow(/cannot assign a parameter to 'conv', which is a registered module/);
    stray.dispose();
    m.dispose();
    dispose([bias, scale]); // the cleared and the forgotten parameter are the caller's now
    expect(memory(cpu).liveTensors).toBe(live);
  });

  it('explicit registration keeps its names: no second registration by the assignment', () => {
    class Explicit extends Module {
      readonly first: Linear;
      readonly same: Linear;
      constructor() {
        super();
        this.first = this.registerModule('0', new Linear(2, 2, { seed: 1, backend: cpu }));
        this.same = this.first; // one module under two properties: listed once
      }
    }
    const m = new Explicit();
    expect(m.namedChildren().map(([n]) => n)).toEqual(['0']);
    expect(m.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias']);
    m.dispose();
  });

  it("V-Net state dict keys, shapes, dtypes and order are those of the explicit registration (checkpoints unchanged)", () => {
    const golden = JSON.parse(readFileSync(new URL('./fixtures/vnet-state-spec.json', import.meta.url), 'utf8')) as [string, number[], string][];
    const net = new VNet({
      nFilters: 4, heads: [{ name: 'out_conv', channels: 1 }, { name: 'out_conv2', channels: 1, activation: 'tanh' }],
      hasDropout: true, seed: 0, backend: cpu,
    });
    expect([...net.stateSpec()].map(([k, v]) => [k, [...v.shape], v.dtype])).toEqual(golden);
    net.dispose();
  });

  it('an optimizer over an empty parameter list is an error (a module whose layers were never registered)', () => {
    class Forgotten extends Module {
      private readonly layers: Linear[] = [new Linear(2, 2, { seed: 1, backend: cpu })]; // an array registers nothing
      override dispose(): void { for (const l of this.layers) l.dispose(); super.dispose(); }
    }
    const m = new Forgotten();
    expect(m.parameters()).toEqual([]);
    expect(() => new SGD(m.parameters(), { lr: 0.1 })).toThrow(/SGD: got an empty parameter list/);
    expect(() => new Adam(m.parameters())).toThrow(/Adam: got an empty parameter list/);
    m.dispose();
    const seq = new Sequential(new Linear(2, 2, { seed: 1, backend: cpu }));
    expect(new SGD(seq.parameters(), { lr: 0.1 }).params.length).toBe(2);
    seq.dispose();
  });
});
