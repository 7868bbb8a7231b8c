import { expect } from 'vitest';
import { Conv3d, ConvTranspose3d, Linear, type Module } from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { cpu } from './backends.js';

/**
 * The seed each module path of `net` is initialised from: deriveSeed(scope seed, the path relative to its scope), where
 * a scope is the nearest enclosing module for which `isScope` holds and a scope's own seed derives likewise from its
 * enclosing scope; outside any scope the path is the whole module path and the seed the network's.
 */
export function seedsFromPaths(net: Module, seed: number, isScope: (m: Module) => boolean): (path: string) => number {
  const modules = new Map(net.namedModules('', false));
  const scopeOf = (path: string): string | null => {
    const parts = path.split('.');
    for (let n = parts.length - 1; n > 0; n--) {
      const p = parts.slice(0, n).join('.');
      if (isScope(modules.get(p)!)) return p;
    }
    return null;
  };
  const seedOf = (path: string): number => {
    const scope = scopeOf(path);
    return scope === null ? deriveSeed(seed, path) : deriveSeed(seedOf(scope), path.slice(scope.length + 1));
  };
  return seedOf;
}

/**
 * Checks that every Conv3d / ConvTranspose3d of `net` was initialised from the seed its module path gives
 * (seedsFromPaths: scopes are the modules for which `isScope` holds, e.g. MONAI's Convolution as MonaiUNet builds it).
 * A layer whose weight is drawn afresh after its construction (an ICNR kernel) is named in `skipWeight`: its bias is
 * compared only. Returns the number of layers checked.
 */
export async function expectConvSeedsFromPaths(net: Module, seed: number, isScope: (m: Module) => boolean, skipWeight: (path: string) => boolean = () => false): Promise<number> {
  const seedOf = seedsFromPaths(net, seed, isScope);
  let checked = 0;
  for (const [path, m] of net.namedModules('', false)) {
    if (!(m instanceof Conv3d || m instanceof ConvTranspose3d)) continue;
    const Make = m instanceof Conv3d ? Conv3d : ConvTranspose3d;
    const ref = new Make(m.inChannels, m.outChannels, m.kernelSize, { seed: seedOf(path), bias: m.bias !== null, backend: cpu });
    if (!skipWeight(path)) expect([path, Array.from(await m.weight.toArray())]).toEqual([path, Array.from(await ref.weight.toArray())]);
    if (m.bias) expect([path, Array.from(await m.bias.toArray())]).toEqual([path, Array.from(await ref.bias!.toArray())]);
    ref.dispose();
    checked++;
  }
  return checked;
}

/** As expectConvSeedsFromPaths, for every Linear of `net` (weight and bias). Returns the number of layers checked. */
export async function expectLinearSeedsFromPaths(net: Module, seed: number, isScope: (m: Module) => boolean): Promise<number> {
  const seedOf = seedsFromPaths(net, seed, isScope);
  let checked = 0;
  for (const [path, m] of net.namedModules('', false)) {
    if (!(m instanceof Linear)) continue;
    const ref = new Linear(m.inFeatures, m.outFeatures, { seed: seedOf(path), bias: m.bias !== null, backend: cpu });
    expect([path, Array.from(await m.weight.toArray())]).toEqual([path, Array.from(await ref.weight.toArray())]);
    if (m.bias) expect([path, Array.from(await m.bias.toArray())]).toEqual([path, Array.from(await ref.bias!.toArray())]);
    ref.dispose();
    checked++;
  }
  return checked;
}
