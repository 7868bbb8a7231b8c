import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfusionMatrixMetric, GeneralizedDiceScore, MeanIoU, SurfaceDiceMetric } from '../../src/imaging/metric-classes-more.js';
import type { MetricReduction } from '../../src/imaging/metric-classes.js';
import type { Shape3 } from '../../src/imaging/volume.js';

/**
 * The four metrics against a float64 re-implementation written from MONAI's formulas (confusion_matrix.py,
 * meaniou.py, generalized_dice.py, surface_dice.py, utils.do_metric_reduction) on one-hot [B, C, N] arrays, with a
 * brute-force surface (6-connected erosion, outside = background) and brute-force distances, on random ball blobs.
 */
const S: Shape3 = [5, 4, 6];
const N = S[0] * S[1] * S[2];
const REDUCTIONS: MetricReduction[] = ['mean', 'sum', 'mean_batch', 'sum_batch', 'mean_channel', 'sum_channel', 'none'];
const NAMES = ['sensitivity', 'specificity', 'precision', 'negative predictive value', 'miss rate', 'fall out', 'false discovery rate',
  'false omission rate', 'prevalence threshold', 'threat score', 'accuracy', 'balanced accuracy', 'f1 score',
  'matthews correlation coefficient', 'fowlkes mallows index', 'informedness', 'markedness'];

type Nested = number | Nested[];
type OneHot = number[][][]; // [B][C][N], 0 or 1

/** a class-index map of balls painted in class order; a ball of radius < 0 is left out (an absent class) */
const arbBall = fc.record({ x: fc.integer({ min: 0, max: S[0] - 1 }), y: fc.integer({ min: 0, max: S[1] - 1 }), z: fc.integer({ min: 0, max: S[2] - 1 }), r: fc.double({ min: -1, max: 3, noNaN: true }) });
const arbMap = (numClasses: number): fc.Arbitrary<Uint8Array> => fc.array(arbBall, { minLength: numClasses - 1, maxLength: numClasses - 1 }).map((balls) => {
  const m = new Uint8Array(N);
  balls.forEach(({ x, y, z, r }, k) => {
    for (let i = 0; i < N; i++) {
      const [a, b, c] = [Math.floor(i / (S[1] * S[2])), Math.floor(i / S[2]) % S[1], i % S[2]];
      if ((a - x) ** 2 + (b - y) ** 2 + (c - z) ** 2 <= r * r) m[i] = k + 1;
    }
  });
  return m;
});
const arbSetup = fc.integer({ min: 2, max: 4 }).chain((numClasses) => fc.record({
  numClasses: fc.constant(numClasses),
  cases: fc.array(fc.tuple(arbMap(numClasses), arbMap(numClasses)), { minLength: 1, maxLength: 3 }),
  includeBackground: fc.boolean(),
  reduction: fc.constantFrom(...REDUCTIONS),
}));

/** MONAI's one-hot of class-index maps, then ignore_background */
function oneHot(maps: Uint8Array[], numClasses: number, includeBackground: boolean): OneHot {
  const all = maps.map((m) => Array.from({ length: numClasses }, (_, c) => Array.from(m, (v) => (v === c ? 1 : 0))));
  return includeBackground ? all : all.map((b) => b.slice(1));
}

const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);

/** do_metric_reduction, step by step as MONAI's torch code: NaNs zeroed, counts, torch.where(not_nans > 0, …, 0) */
function refReduce(f: number[][], reduction: MetricReduction): [Nested, Nested] {
  const notNans = f.map((r) => r.map((v) => (Number.isNaN(v) ? 0 : 1)));
  if (reduction === 'none') return [f, notNans];
  const g = f.map((r) => r.map((v) => (Number.isNaN(v) ? 0 : v)));
  const B = g.length, C = g[0]!.length;
  const overB = (a: number[][], c: number): number[] => Array.from({ length: B }, (_, b) => a[b]![c]!);
  const where = (n: number, s: number): number => (n > 0 ? s / n : 0);
  switch (reduction) {
    case 'mean': {
      const nc = notNans.map(sum), fc_ = g.map((r, b) => where(nc[b]!, sum(r)));
      const nb = nc.filter((n) => n > 0).length;
      return [where(nb, sum(fc_)), nb];
    }
    case 'sum': return [sum(g.flat()), sum(notNans.flat())];
    case 'mean_batch': return [Array.from({ length: C }, (_, c) => where(sum(overB(notNans, c)), sum(overB(g, c)))), Array.from({ length: C }, (_, c) => sum(overB(notNans, c)))];
    case 'sum_batch': return [Array.from({ length: C }, (_, c) => sum(overB(g, c))), Array.from({ length: C }, (_, c) => sum(overB(notNans, c)))];
    case 'mean_channel': return [g.map((r, b) => where(sum(notNans[b]!), sum(r))), notNans.map(sum)];
    default: return [g.map(sum), notNans.map(sum)];
  }
}

/** compute_confusion_matrix_metric, as MONAI's: torch.where(denominator != 0, numerator / denominator, nan) */
function refConfusionMetric(name: string, [tp, fp, tn, fn]: number[]): number {
  const p = tp! + fn!, n = fp! + tn!;
  const div = (a: number, b: number): number => (b !== 0 ? a / b : NaN);
  const tpr = p > 0 ? tp! / p : NaN, tnr = n > 0 ? tn! / n : NaN;
  const ppv = tp! + fp! > 0 ? tp! / (tp! + fp!) : NaN, npv = tn! + fn! > 0 ? tn! / (tn! + fn!) : NaN;
  const table: Record<string, () => number> = {
    'sensitivity': () => div(tp!, p), 'specificity': () => div(tn!, n), 'precision': () => div(tp!, tp! + fp!), 'negative predictive value': () => div(tn!, tn! + fn!),
    'miss rate': () => div(fn!, p), 'fall out': () => div(fp!, n), 'false discovery rate': () => div(fp!, fp! + tp!), 'false omission rate': () => div(fn!, fn! + tn!),
    'prevalence threshold': () => div(Math.sqrt(tpr * (1 - tnr)) + tnr - 1, tpr + tnr - 1), 'threat score': () => div(tp!, tp! + fn! + fp!),
    'accuracy': () => div(tp! + tn!, p + n), 'balanced accuracy': () => (tpr + tnr) / 2, 'f1 score': () => div(tp! * 2, tp! * 2 + fn! + fp!),
    'matthews correlation coefficient': () => div(tp! * tn! - fp! * fn!, Math.sqrt((tp! + fp!) * (tp! + fn!) * (tn! + fp!) * (tn! + fn!))),
    'fowlkes mallows index': () => Math.sqrt(ppv * tpr) / 1, 'informedness': () => tpr + tnr - 1, 'markedness': () => ppv + npv - 1,
  };
  return table[name]!();
}

/** get_confusion_matrix of one-hot [B][C][N]: [B][C][4] */
const refConfusion = (yp: OneHot, y: OneHot): number[][][] => yp.map((pb, b) => pb.map((pc, c) => {
  const yc = y[b]![c]!;
  const tp = sum(pc.map((v, i) => (v + yc[i]! === 2 ? 1 : 0))), tn = sum(pc.map((v, i) => (v + yc[i]! === 0 ? 1 : 0)));
  const p = sum(yc), n = yc.length - p;
  return [tp, n - tn, tn, p - tp];
}));

/** equal nested values, NaN where NaN, within 1e-12 relative */
function expectClose(got: unknown, want: Nested, where: string): void {
  if (typeof want === 'number') {
    if (Number.isNaN(want)) expect(got, where).toBeNaN();
    else if (!Number.isFinite(want)) expect(got, where).toBe(want);
    else expect(Math.abs((got as number) - want), `${where}: ${String(got)} vs ${want}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
    return;
  }
  expect(Array.isArray(got), where).toBe(true);
  expect((got as unknown[]).length, where).toBe(want.length);
  want.forEach((w, i) => expectClose((got as unknown[])[i], w, `${where}[${i}]`));
}

describe("ConfusionMatrixMetric, MeanIoU and GeneralizedDiceScore against MONAI's formulas (float64 oracle)", () => {
  it('every metric name, computeSample or not, every reduction, with not_nans', () => {
    fc.assert(fc.property(arbSetup, fc.boolean(), ({ numClasses, cases, includeBackground, reduction }, computeSample) => {
      const m = new ConfusionMatrixMetric({ numClasses, includeBackground, metricName: NAMES, computeSample, reduction, getNotNans: true });
      for (const [p, g] of cases) m.callClasses(p, g, S);
      const cm = refConfusion(oneHot(cases.map(([p]) => p), numClasses, includeBackground), oneHot(cases.map(([, g]) => g), numClasses, includeBackground));
      expect(m.buffer()).toEqual(cm);
      const got = m.aggregate();
      NAMES.forEach((name, k) => {
        let want: [Nested, Nested];
        if (computeSample) want = refReduce(cm.map((r) => r.map((x) => refConfusionMetric(name, x))), reduction);
        else {
          const parts = [0, 1, 2, 3].map((j) => refReduce(cm.map((r) => r.map((x) => x[j]!)), reduction));
          const zip = (xs: Nested[], leaf: (v: number[]) => Nested): Nested => (typeof xs[0] === 'number' ? leaf(xs as number[]) : (xs[0] as Nested[]).map((_, i) => zip(xs.map((x) => (x as Nested[])[i]!), leaf)));
          want = [zip(parts.map(([f]) => f), (v) => refConfusionMetric(name, v)), zip(parts.map(([, n]) => n), (v) => v)];
        }
        expectClose(got[k], want, `${name} ${reduction} computeSample ${computeSample}`);
      });
    }), { numRuns: 60 });
  });

  it("MeanIoU (ignoreEmpty either way) and GeneralizedDiceScore (every weight type, MONAI's sum over classes)", () => {
    fc.assert(fc.property(arbSetup, fc.boolean(), fc.constantFrom('square', 'simple', 'uniform' as const), ({ numClasses, cases, includeBackground, reduction }, ignoreEmpty, weightType) => {
      const iou = new MeanIoU({ numClasses, includeBackground, ignoreEmpty, reduction, getNotNans: true });
      const gds = new GeneralizedDiceScore({ numClasses, includeBackground, reduction, weightType });
      for (const [p, g] of cases) { iou.callClasses(p, g, S); gds.callClasses(p, g, S); }
      const yp = oneHot(cases.map(([p]) => p), numClasses, includeBackground), y = oneHot(cases.map(([, g]) => g), numClasses, includeBackground);
      const inter = yp.map((b, i) => b.map((c, j) => sum(c.map((v, k) => v * y[i]![j]![k]!))));
      const yO = y.map((b) => b.map(sum)), pO = yp.map((b) => b.map(sum));
      const iouRows = inter.map((r, b) => r.map((t, c) => {
        const union = yO[b]![c]! + pO[b]![c]! - t;
        return ignoreEmpty ? (yO[b]![c]! > 0 ? t / union : NaN) : union > 0 ? t / union : 1;
      }));
      expectClose(iou.aggregate(), refReduce(iouRows, reduction), `MeanIoU ${reduction}`);
      // compute_generalized_dice: weights, infinite ones → 0 → the row's max, then per class or summed over the classes
      const sumOver = ['sum', 'mean', 'mean_channel', 'sum_channel'].includes(reduction);
      const gdsRows = inter.map((r, b) => {
        const w = yO[b]!.map((v) => (weightType === 'simple' ? 1 / v : weightType === 'square' ? 1 / (v * v) : 1));
        const infs = w.map((v) => !Number.isFinite(v));
        const zeroed = w.map((v, c) => (infs[c] ? 0 : v));
        const max = Math.max(...zeroed);
        const ww = zeroed.map((v, c) => (infs[c] ? max : v));
        const denomC = yO[b]!.map((v, c) => (v + pO[b]![c]!) * ww[c]!);
        const numer = sumOver ? [2 * sum(r.map((t, c) => t * ww[c]!))] : r.map((t, c) => 2 * t * ww[c]!);
        const denom = sumOver ? [sum(denomC)] : denomC;
        const predO = sumOver ? [sum(pO[b]!)] : pO[b]!;
        return numer.map((x, c) => (denom[c] === 0 ? (predO[c] === 0 ? 1 : 0) : x / denom[c]!));
      });
      expectClose(gds.buffer(), gdsRows, 'GeneralizedDiceScore buffer');
      expectClose(gds.aggregate(), refReduce(gdsRows, reduction)[0], `GeneralizedDiceScore ${reduction}`);
    }), { numRuns: 80 });
  });
});

describe("SurfaceDiceMetric against MONAI's formula with brute-force surfaces and distances", () => {
  const at = (i: number): Shape3 => [Math.floor(i / (S[1] * S[2])), Math.floor(i / S[2]) % S[1], i % S[2]];
  /** binary_erosion(seg) ^ seg with the cross and border 0 (MONAI crops with a margin of 1 and pads with 0) */
  const edges = (seg: number[]): number[] => seg.map((v, i) => {
    if (!v) return 0;
    const [x, y, z] = at(i);
    const inside = (a: number, b: number, c: number): boolean => a >= 0 && b >= 0 && c >= 0 && a < S[0] && b < S[1] && c < S[2] && seg[(a * S[1] + b) * S[2] + c] === 1;
    return [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]].every(([dx, dy, dz]) => inside(x + dx!, y + dy!, z + dz!)) ? 0 : 1;
  });
  /** get_surface_distance(seg_pred, seg_gt): distances of seg_pred's voxels to seg_gt, float32 as MONAI's */
  const surfaceDistance = (a: number[], b: number[], spacing: Shape3): number[] => {
    const ai = a.flatMap((v, i) => (v ? [i] : [])), bi = b.flatMap((v, i) => (v ? [i] : []));
    if (bi.length === 0) return ai.map(() => Infinity);
    if (ai.length === 0) return bi.map(() => Infinity);
    return ai.map((i) => Math.fround(Math.min(...bi.map((j) => Math.sqrt(sum(at(i).map((p, k) => ((p - at(j)[k]!) * spacing[k]!) ** 2)))))));
  };

  it('every class and case: (|{d(P→G) ≤ τ}| + |{d(G→P) ≤ τ}|) / (|d(P→G)| + |d(G→P)|), NaN without edges; reductions and not_nans', () => {
    const arbThreshold = fc.oneof(fc.constantFrom(0, 1, Math.SQRT2, 1.4142135, 1.5, 2, Math.sqrt(5)), fc.double({ min: 0, max: 4, noNaN: true }));
    fc.assert(fc.property(arbSetup, fc.array(arbThreshold, { minLength: 4, maxLength: 4 }), fc.constantFrom<Shape3 | undefined>(undefined, [0.5, 1, 2], [2, 0.7, 1.3]), ({ numClasses, cases, includeBackground, reduction }, thresholds, spacing) => {
      const classThresholds = thresholds.slice(0, includeBackground ? numClasses : numClasses - 1);
      const m = new SurfaceDiceMetric({ numClasses, includeBackground, classThresholds, reduction, getNotNans: true });
      for (const [p, g] of cases) m.callClasses(p, g, S, spacing);
      const yp = oneHot(cases.map(([p]) => p), numClasses, includeBackground), y = oneHot(cases.map(([, g]) => g), numClasses, includeBackground);
      const rows = yp.map((b, i) => b.map((pc, c) => {
        const ep = edges(pc), eg = edges(y[i]![c]!);
        const dpg = surfaceDistance(ep, eg, spacing ?? [1, 1, 1]), dgp = surfaceDistance(eg, ep, spacing ?? [1, 1, 1]);
        const complete = dpg.length + dgp.length;
        const t = Math.fround(classThresholds[c]!);
        return complete === 0 ? NaN : (dpg.filter((d) => d <= t).length + dgp.filter((d) => d <= t).length) / complete;
      }));
      expectClose(m.buffer(), rows, 'buffer');
      expectClose(m.aggregate(), refReduce(rows, reduction), `SurfaceDiceMetric ${reduction}`);
    }), { numRuns: 40 });
  });
});
