import type { Backend } from '../kernels/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeakyReLU } from './activations.js';
import { BatchNorm3d, GroupNorm, InstanceNorm3d, ReLU, type ChannelNorm } from './layers.js';
import type { Layer } from './module.js';

/** a 3-D norm as MONAI's networks take it: a name, or [name, the layer's arguments] */
export type NormSpec =
  | 'group' | 'batch' | 'instance'
  | readonly ['group', { numGroups: number; eps?: number; affine?: boolean }]
  | readonly ['batch', { eps?: number; momentum?: number; affine?: boolean; trackRunningStats?: boolean }]
  | readonly ['instance', { eps?: number; affine?: boolean }];

/** an activation as MONAI's networks take it: ReLU, or LeakyReLU (negative slope 0.01 unless given) */
export type ActSpec = 'relu' | 'leakyrelu' | readonly ['leakyrelu', { negativeSlope: number }];

/**
 * the norm layer over `channels` that `norm` names, a 'group' one without numGroups with `defaultGroups`; null for a
 * name it does not know or a group norm without groups (the network words the error)
 */
export function normLayerOf(norm: NormSpec, channels: number, backend: Backend | undefined, defaultGroups?: number): ChannelNorm | null {
  const [name, args] = typeof norm === 'string' ? [norm, {}] as const : norm;
  switch (name) {
    case 'group': {
      const numGroups = 'numGroups' in args ? args.numGroups : defaultGroups;
      return numGroups === undefined ? null : new GroupNorm(numGroups, channels, { ...args, backend });
    }
    case 'batch': return new BatchNorm3d(channels, { ...args, backend });
    case 'instance': return new InstanceNorm3d(channels, { ...args, backend });
    default: return null;
  }
}

/** the activation layer `act` names; null for one it does not know (the network words the error) */
export function actLayerOf(act: ActSpec): Layer | null {
  if (act === 'relu') return new ReLU();
  if (act === 'leakyrelu') return new LeakyReLU();
  if (Array.isArray(act) && act[0] === 'leakyrelu') return new LeakyReLU(act[1].negativeSlope);
  return null;
}

/** normLayerOf's layer, or an error naming the network `op`, its option `option` and what is wrong (a group norm without numGroups) */
export function normLayerNamed(op: string, option: string, norm: NormSpec, channels: number, backend: Backend | undefined): ChannelNorm {
  const layer = normLayerOf(norm, channels, backend);
  if (layer) return layer;
  const [name, args] = typeof norm === 'string' ? [norm, {}] as const : norm;
  if (name === 'group' && !('numGroups' in args)) throw new Error(`${op}: ${option} 'group' needs its numGroups: ['group', { numGroups }]`);
  throw new Error(`${op}: unknown ${option} '${String(name)}'; valid: instance, batch, ['group', { numGroups }]`);
}

/** actLayerOf's layer, or an error naming the network `op` and its option `option` */
export function actLayerNamed(op: string, option: string, act: ActSpec): Layer {
  const layer = actLayerOf(act);
  if (layer) return layer;
  throw new Error(`${op}: unknown ${option} ${JSON.stringify(act)}; valid: 'relu', 'leakyrelu', ['leakyrelu', { negativeSlope }]`);
}

/** the norm then the activation, as one op where the norm fuses it (a ReLU) */
export function normThenAct(norm: Layer, act: Layer, x: Tensor): Tensor {
  const fused = norm.fusedWith([act], x);
  return fused ? fused.forward(x) : act.forward(norm.forward(x));
}
