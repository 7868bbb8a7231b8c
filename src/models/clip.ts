import { noGrad } from '../autograd/graph.js';
import { addScalar, concat, div, minimum, mul, reshape, sqrt, square, sum } from '../autograd/ops.js';
import { full } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/memory.js';
import type { Parameter } from './module.js';

export interface ClipOptions {
  /** added to the norm before dividing (PyTorch: 1e-6) */
  eps?: number;
}

/**
 * torch.nn.utils.clip_grad_norm_ (2-norm): scales every gradient by min(1, maxNorm / (‖g‖ + 1e-6)), where ‖g‖
 * is the 2-norm of all gradients together, and returns ‖g‖. The scaling is computed on the device; the norm
 * is read back once, after the scaled gradients are queued. Each gradient is replaced by a new tensor (never
 * written in place, since two gradients may share a storage).
 */
export async function clipGradNorm(params: Iterable<Parameter>, maxNorm: number, options: ClipOptions = {}): Promise<number> {
  const withGrad = [...new Set(params)].filter((p) => p.grad);
  if (withGrad.length === 0) return 0;
  if (!(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be ≥ 0, got ${maxNorm}`);
  const eps = options.eps ?? 1e-6;
  const total = noGrad(() => tidy(() => {
    const squares = withGrad.map((p) => reshape(sum(square(p.grad!)), [1]));
    const norm = sqrt(sum(squares.length === 1 ? squares[0] : concat(squares)));
    const one = full([], 1, { backend: norm.backend, dtype: norm.dtype });
    const coef = minimum(div(full([], maxNorm, { backend: norm.backend, dtype: norm.dtype }), addScalar(norm, eps)), one);
    for (const p of withGrad) {
      const old = p.grad!;
      p.grad = keep(mul(old, coef));
      old.dispose();
    }
    return norm;
  }));
  try {
    return await total.item();
  } finally {
    total.dispose();
  }
}
