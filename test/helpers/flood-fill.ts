/** Test oracles for the connected-component transforms, written independently of src/imaging/metrics.ts. */

/** All offsets of a `dims`-D neighbourhood with 1 … maxHops nonzero entries (−1, 0 or 1 each). */
export function neighbourOffsets(dims: number, maxHops: number): number[][] {
  const out: number[][] = [];
  const rec = (prefix: number[]) => {
    if (prefix.length === dims) { const h = prefix.filter((d) => d !== 0).length; if (h >= 1 && h <= maxHops) out.push(prefix); return; }
    for (const d of [-1, 0, 1]) rec([...prefix, d]);
  };
  rec([]);
  return out;
}

/** The connected-component ids (1, 2, …; 0 outside the mask) of `mask` over an array of any shape in C order, by search. */
export function floodComponents(mask: ArrayLike<number>, shape: readonly number[], maxHops: number): Int32Array {
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, s) => p * s, 1));
  const ids = new Int32Array(mask.length), steps = neighbourOffsets(shape.length, maxHops);
  let next = 0;
  for (let seed = 0; seed < mask.length; seed++) {
    if (!mask[seed] || ids[seed]) continue;
    ids[seed] = ++next;
    const queue = [seed];
    while (queue.length) {
      const i = queue.pop()!, c = strides.map((s, a) => Math.floor(i / s) % shape[a]!);
      for (const d of steps) {
        const q = c.map((v, a) => v + d[a]!);
        if (q.some((v, a) => v < 0 || v >= shape[a]!)) continue;
        const j = q.reduce((p, v, a) => p + v * strides[a]!, 0);
        if (mask[j] && !ids[j]) { ids[j] = next; queue.push(j); }
      }
    }
  }
  return ids;
}
