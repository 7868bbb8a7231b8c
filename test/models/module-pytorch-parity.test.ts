import { describe, expect, it } from 'vitest';
import { BatchNorm3d, Layer, Linear, Module, Parameter, ReLU, Sequential } from '../../src/models/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** a block that keeps its batch norm in eval mode whatever train() says (PyTorch's frozen-BN override of train) */
class FrozenNormBlock extends Layer {
  readonly norm = new BatchNorm3d(2, { backend: cpu });
  forward(x: Tensor): Tensor { return this.norm.forward(x); }
  override train(mode = true): this {
    super.train(mode);
    this.norm.training = false;
    return this;
  }
}

/** two paths through one shared layer, as weight tying does */
class Tied extends Module {
  readonly shared = new Linear(2, 2, { seed: 1, backend: cpu });
  readonly again: Linear;
  readonly norm = new BatchNorm3d(2, { backend: cpu });
  readonly normAgain: BatchNorm3d;
  constructor() {
    super();
    this.again = this.registerModule('again', this.shared);
    this.normAgain = this.registerModule('normAgain', this.norm);
  }
}

describe('Module as torch.nn.Module', () => {
  it('train() and eval() reach every descendant through its own train(), so that an override holds (PyTorch recurses over children().train(mode))', () => {
    const net = new Sequential(new Sequential(new FrozenNormBlock()), new ReLU());
    const block = (net.at(0) as Sequential).at(0) as FrozenNormBlock;
    net.train();
    expect(net.training).toBe(true);
    expect(block.training).toBe(true);
    expect(block.norm.training).toBe(false);
    net.eval();
    expect(block.training).toBe(false);
    net.train(true);
    expect(block.norm.training).toBe(false);
    net.dispose();
  });

  it('namedModules, modules and namedBuffers list a shared module once, under its first name (remove_duplicate); the state dict keeps every name', () => {
    const tied = new Tied();
    expect(tied.namedModules().map(([n]) => n)).toEqual(['', 'shared', 'norm']);
    expect(tied.modules()).toHaveLength(3);
    expect(tied.namedModules('', false).map(([n]) => n)).toEqual(['', 'shared', 'norm', 'again', 'normAgain']);
    expect(tied.namedParameters().map(([n]) => n)).toEqual(['shared.weight', 'shared.bias', 'norm.weight', 'norm.bias']);
    expect(tied.namedBuffers().map(([n]) => n)).toEqual(['norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked']);
    // PyTorch's state_dict walks _modules without removing duplicates
    expect([...tied.stateDict().keys()]).toEqual([
      'shared.weight', 'shared.bias', 'norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked',
      'again.weight', 'again.bias',
      'normAgain.weight', 'normAgain.bias', 'normAgain.running_mean', 'normAgain.running_var', 'normAgain.num_batches_tracked',
    ]);
    expect(tied.loadStateDict(tied.stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
    // named_children drops duplicates too, so that apply() visits a shared module once per parent
    expect(tied.namedChildren().map(([n]) => n)).toEqual(['shared', 'norm']);
    expect(tied.children()).toHaveLength(2);
    const visited: string[] = [];
    tied.apply((m) => { visited.push(m.typeName); });
    expect(visited).toEqual(['Linear', 'BatchNorm3d', 'Tied']);
    tied.dispose();
  });

  it('requiresGrad_ sets every parameter\'s requiresGrad (nn.Module.requires_grad_) and returns the module', () => {
    const net = new Sequential(new Linear(2, 3, { seed: 2, backend: cpu }), new Linear(3, 1, { seed: 3, backend: cpu }));
    expect(net.requiresGrad_(false)).toBe(net);
    expect(net.parameters().map((p: Parameter) => p.requiresGrad)).toEqual([false, false, false, false]);
    net.requiresGrad_();
    expect(net.parameters().every((p) => p.requiresGrad)).toBe(true);
    net.dispose();
  });
});

describe('Module lookups by dotted path (get_submodule, get_parameter, get_buffer)', () => {
  it('finds a module, parameter or buffer by its state-dict name, and names the module that lacks a part', async () => {
    const net = new Sequential(new Sequential(new Linear(2, 3, { seed: 5, backend: cpu }), new BatchNorm3d(3, { backend: cpu })), new ReLU());
    expect(net.getSubmodule('')).toBe(net);
    expect(net.getSubmodule('0.1')).toBe((net.at(0) as Sequential).at(1));
    expect(net.getParameter('0.0.bias')).toBe(((net.at(0) as Sequential).at(0) as Linear).bias);
    const runningVar = net.getBuffer('0.1.running_var');
    expect(runningVar.shape).toEqual([3]);
    expect([...await runningVar.toArray()]).toEqual([1, 1, 1]);
    expect(() => net.getSubmodule('0.2')).toThrow("Sequential has no submodule '2' (looking up '0.2')");
    expect(() => net.getParameter('0.1.running_mean')).toThrow("BatchNorm3d has no parameter 'running_mean' (looking up '0.1.running_mean')");
    expect(() => net.getBuffer('1.weight')).toThrow("ReLU has no buffer 'weight' (looking up '1.weight')");
    net.dispose();
  });
});
