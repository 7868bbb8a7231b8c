/**
 * Adam's bias corrections 1 − βᵗ when the step count t lives on the device (adamSteps' deviceSteps): computed in
 * float32 in the kernel, as PyTorch's capturable Adam, as −expm1(t·ln β) from ln β rounded to float32 (the host
 * passes it). expm1 avoids the cancellation of 1 − βᵗ near t = 1 (1 − β₂ = 0.001): a Taylor polynomial where
 * |t·ln β| ≤ ½, 1 − exp beyond; so the result stays within a few float32 roundings of the host's float64 value
 * (WGSL's pow, through log2 with an absolute error up to 2⁻²¹, could put 2⁻²¹/(1 − β) into it).
 */

/** ln β as the kernel takes it (float32; β = 0 as a large negative number: βᵗ = 0 without an infinity in WGSL) */
export function logBeta(beta: number): number {
  return Math.fround(Math.max(Math.log(beta), -1e4));
}

/** the cpu oracle's 1 − βᵗ: the kernel's formula, −expm1(t·ln β), in float64 from the same float32 ln β */
export function oneMinusPower(beta: number, t: number): number {
  return -Math.expm1(t * logBeta(beta));
}

/** WGSL: 1 − βᵗ from ln β and t, in float32 */
export const wgslOneMinusPower = /* wgsl */ `
fn one_minus_power(log_beta: f32, t: f32) -> f32 {
  let x = t * log_beta;
  if (x < -0.5) { return 1.0 - exp(x); }
  // -expm1(x) = -x (1 + x/2 (1 + x/3 (1 + … x/9))): the truncation is below 0.5^9 / 10! ≈ 5e-10 relative
  var s = 1.0;
  for (var k = 9.0; k >= 2.0; k = k - 1.0) { s = 1.0 + x / k * s; }
  return -x * s;
}`;
