/** Python's repr() of a float, so that layers print their options as PyTorch's do (`eps=1e-05`, `2.0`). */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without digits gives the shortest round-trip mantissa, as Python's repr
  const [mantissa = '', exponentText = ''] = x.toExponential().split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const sign = x < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const point = exponent + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A number, or a tuple of them, as Python prints it: `8`, `(8, 8, 4)`, or with `asFloat` `2.0`, `(2.0, 2.0, 1.0)`. */
export function pythonNumbers(value: number | readonly number[], asFloat = false): string {
  const one = (v: number): string => (asFloat ? pythonFloat(v) : String(v));
  return typeof value === 'number' ? one(value) : `(${value.map(one).join(', ')})`;
}
