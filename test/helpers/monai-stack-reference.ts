import { add, conv3d, convTranspose3d, instanceNorm, prelu } from '../../src/autograd/index.js';
import { expect } from 'vitest';
import type { Module } from '../../src/models/index.js';
import { loadDistinctSafetensors } from './model-checks.js';
import type { Tensor } from '../../src/tensor/index.js';

/**
 * MONAI's Convolution and ResidualUnit written out with the functional ops, reading the weights of `net` by their
 * MONAI names (`${key}.conv.weight`, `${key}.conv.unit0.conv.weight`, `${key}.residual.weight`, …), for the tests of
 * the networks built of them (AutoEncoder, VarAutoEncoder, Regressor and its classifiers, Generator). Same padding
 * (kernel − 1)·dilation / 2; the ADN is `adn` (by default MONAI's: instance norm without affine, then the PReLU at
 * `${key}.adn.A.weight`; a dropout of p = 0 or in evaluation is the identity).
 */
export class StackByHand {
  constructor(readonly net: Module, readonly kernel = 3,
    readonly adn: (t: Tensor, key: string) => Tensor = (t, key) => prelu(instanceNorm(t), net.getParameter(`${key}.adn.A.weight`))) {}

  private w(key: string): Tensor { return this.net.getParameter(key); }
  private b(key: string): Tensor | null { return this.net.stateSpec().has(key) ? this.net.getParameter(key) : null; }

  /** a Convolution (conv, then its ADN unless convOnly) */
  conv(t: Tensor, key: string, stride: number, convOnly = false, dilation = 1): Tensor {
    const y = conv3d(t, this.w(`${key}.conv.weight`), this.b(`${key}.conv.bias`), { stride, padding: ((this.kernel - 1) * dilation) / 2, dilation });
    return convOnly ? y : this.adn(y, key);
  }

  /** a transposed Convolution: padding (k − 1)/2, output padding stride − 1 */
  transposed(t: Tensor, key: string, stride: number, convOnly = false): Tensor {
    const y = convTranspose3d(t, this.w(`${key}.conv.weight`), this.b(`${key}.conv.bias`), {
      stride, padding: (this.kernel - 1) / 2, outputPadding: stride - 1,
    });
    return convOnly ? y : this.adn(y, key);
  }

  /** a ResidualUnit of `units` Convolutions (the first strided), plus the input or the residual convolution */
  residualUnit(t: Tensor, key: string, stride: number, units: number, lastConvOnly = false, dilation = 1): Tensor {
    let y = t;
    for (let i = 0; i < units; i++) y = this.conv(y, `${key}.conv.unit${i}`, i === 0 ? stride : 1, lastConvOnly && i === units - 1, dilation);
    if (!this.net.stateSpec().has(`${key}.residual.weight`)) return add(y, t);
    return add(y, conv3d(t, this.w(`${key}.residual.weight`), this.b(`${key}.residual.bias`), {
      stride, padding: stride !== 1 ? ((this.kernel - 1) * dilation) / 2 : 0,
    }));
  }

  /** a conv-stack layer: a ResidualUnit of `units` convolutions, or a Convolution when `units` is 0 */
  layer(t: Tensor, key: string, stride: number, units: number, isLast: boolean, dilation = 1): Tensor {
    return units > 0 ? this.residualUnit(t, key, stride, units, isLast, dilation) : this.conv(t, key, stride, isLast, dilation);
  }
}

/**
 * each of `nets` loads strictly a state dict in PyTorch's safetensors layout under its MONAI keys (model-checks'
 * loadDistinctSafetensors), `key`'s values arriving; the networks are disposed
 */
export async function expectStrictLoads(nets: readonly Module[], key: string): Promise<void> {
  for (const net of nets) {
    const host = loadDistinctSafetensors(net, 0);
    expect(Array.from(await net.getParameter(key).toArray())).toEqual(Array.from(host.get(key)!.data));
    net.dispose();
  }
}
