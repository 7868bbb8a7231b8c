import { addScalar, affine, assertGradcheck, mul, noGrad, record, sigmoid, tidy, type Tensor } from 'voxgrad';

/** SiLU (x·σ(x)) as one op: the forward runs without recording, `record` attaches the backward rule. */
export function silu(x: Tensor): Tensor {
  const y = noGrad(() => tidy(() => mul(x, sigmoid(x))));
  // rule(gradOutput, saved) returns one gradient per input (null for none); `save` lists the tensors it reads
  return record('silu', y, [x], (g, [xs]) => {
    const s = sigmoid(xs);
    return [mul(g, mul(s, addScalar(mul(xs, affine(s, -1, 1)), 1)))]; // dy/dx = σ(x)·(1 + x·(1 − σ(x)))
  }, [x]);
}

// float64 central differences against the rule (intermediates of the rule are freed by backward)
await assertGradcheck(silu, [{ data: [-2, -0.5, 0, 0.7, 3], shape: [5] }]);
