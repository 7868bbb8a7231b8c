import type { Tensor } from '../tensor/tensor.js';
import type { Layer } from './module.js';

/** the norm then the activation, as one op where the norm fuses it (a ReLU) */
export function normThenAct(norm: Layer, act: Layer, x: Tensor): Tensor {
  const fused = norm.fusedWith([act], x);
  return fused ? fused.forward(x) : act.forward(norm.forward(x));
}
