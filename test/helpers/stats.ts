/** Mean and population standard deviation (two passes, in plain JavaScript numbers). */
export function meanStd(d: Iterable<number> & ArrayLike<number>): { mean: number; std: number } {
  let m = 0;
  for (const v of d) m += v;
  m /= d.length;
  let v2 = 0;
  for (const v of d) v2 += (v - m) ** 2;
  return { mean: m, std: Math.sqrt(v2 / d.length) };
}
