import type { ChannelLayout, NormLayout, NormTerms, RunningStatsUpdate, Storage } from '../backend.js';
import { cpuData, storageFrom, type CpuStorage } from '../cpu/storage.js';
import { checkMoments, checkNorm, checkRunningStats } from './checks.js';

/**
 * The normalisation kernels in float64: exact two-pass statistics, the forward (optionally with its ReLU), the
 * two sums and the input gradient of the backward, and the running-statistics update. Element (o, k, i) of a
 * [outer, channels, inner] layout is at (o·channels + k)·inner + i.
 */

/** Calls fn(flat index) for every element of channel k, in memory order. */
function forChannel(layout: ChannelLayout, k: number, fn: (at: number) => void): void {
  const { outer, channels, inner } = layout;
  for (let o = 0; o < outer; o++) {
    const base = (o * channels + k) * inner;
    for (let i = 0; i < inner; i++) fn(base + i);
  }
}

export function moments(x: Storage, layout: ChannelLayout, running: RunningStatsUpdate | null = null): { mean: CpuStorage; variance: CpuStorage } {
  checkMoments(x, layout, running);
  const src = cpuData(x);
  const n = layout.outer * layout.inner;
  const mean = new Float64Array(layout.channels), variance = new Float64Array(layout.channels);
  for (let k = 0; k < layout.channels; k++) {
    let s = 0;
    forChannel(layout, k, (at) => { s += src[at]; });
    const m = s / n;
    let q = 0;
    forChannel(layout, k, (at) => { q += (src[at] - m) ** 2; });
    mean[k] = m;
    variance[k] = q / n;
  }
  const stats = { mean: storageFrom(x.dtype, mean), variance: storageFrom(x.dtype, variance) };
  if (running) updateRunningStats(running.mean, running.variance, stats, running.momentum, running.count);
  return stats;
}

/** The coefficients of channel k: its group's mean and rstd, its weight (1 when absent) and bias (0). */
export interface Coefficients { mean: number; rstd: number; weight: number; bias: number }

/** (also the cpu conv3d epilogue's, conv3d/cpu.ts) */
export function coefficients(terms: NormTerms, layout: Pick<NormLayout, 'perGroup' | 'params'>): (k: number) => Coefficients {
  const mean = cpuData(terms.mean), variance = cpuData(terms.variance);
  const weight = terms.weight ? cpuData(terms.weight) : null, bias = terms.bias ? cpuData(terms.bias) : null;
  return (k) => {
    const s = Math.floor(k / layout.perGroup), p = k % layout.params;
    return { mean: mean[s], rstd: 1 / Math.sqrt(variance[s] + terms.eps), weight: weight ? weight[p] : 1, bias: bias ? bias[p] : 0 };
  };
}

/** The normalised element of channel coefficients c, max(0, ·) of it with `relu` (also the cpu conv3d epilogue's). */
export function normalized(c: Coefficients, x: number, relu: boolean): number {
  const y = c.rstd * c.weight * (x - c.mean) + c.bias;
  return relu && y <= 0 ? 0 : y;
}

/** g, or g·[y > 0] with a fused ReLU's output y */
function maskedGradient(g: Storage, y: Storage | null): (at: number) => number {
  const gs = cpuData(g), ys = y ? cpuData(y) : null;
  // PyTorch's threshold_backward: only y ≤ 0 masks (a NaN output passes its gradient)
  return ys ? (at) => (ys[at] <= 0 ? 0 : gs[at]) : (at) => gs[at];
}

export function normalize(x: Storage, terms: NormTerms, layout: NormLayout, relu: boolean): CpuStorage {
  checkNorm('normalize', layout, [x], terms);
  const xs = cpuData(x), coef = coefficients(terms, layout);
  const out = new Float64Array(xs.length);
  for (let k = 0; k < layout.channels; k++) {
    const c = coef(k);
    forChannel(layout, k, (at) => { out[at] = normalized(c, xs[at], relu); });
  }
  return storageFrom(x.dtype, out);
}

export function normSums(g: Storage, x: Storage, y: Storage | null, terms: NormTerms, layout: NormLayout): { sum: CpuStorage; dot: CpuStorage } {
  checkNorm('normSums', layout, [g, x, y], terms);
  const gm = maskedGradient(g, y), xs = cpuData(x), coef = coefficients(terms, layout);
  const sum = new Float64Array(layout.channels), dot = new Float64Array(layout.channels);
  for (let k = 0; k < layout.channels; k++) {
    const c = coef(k);
    forChannel(layout, k, (at) => {
      const gi = gm(at);
      sum[k] += gi;
      dot[k] += gi * (xs[at] - c.mean);
    });
    dot[k] *= c.rstd;
  }
  return { sum: storageFrom(g.dtype, sum), dot: storageFrom(g.dtype, dot) };
}

export function normBackward(g: Storage, x: Storage, y: Storage | null, terms: NormTerms, sums: { sum: Storage; dot: Storage } | null,
  layout: NormLayout): CpuStorage {
  checkNorm('normBackward', layout, [g, x, y], terms, sums ? [sums.sum, sums.dot] : []);
  const gm = maskedGradient(g, y), xs = cpuData(x), coef = coefficients(terms, layout);
  const sum = sums ? cpuData(sums.sum) : null, dot = sums ? cpuData(sums.dot) : null;
  const n = layout.outer * layout.perGroup * layout.inner;
  const out = new Float64Array(xs.length);
  for (let k = 0; k < layout.channels; k++) {
    const c = coef(k);
    // mean(h) and mean(h·x̂) of k's statistics group (0 with fixed statistics)
    let meanH = 0, meanHx = 0;
    if (sum && dot) {
      const first = k - (k % layout.perGroup);
      for (let j = first; j < first + layout.perGroup; j++) {
        const w = coef(j).weight;
        meanH += (w * sum[j]) / n;
        meanHx += (w * dot[j]) / n;
      }
    }
    forChannel(layout, k, (at) => {
      out[at] = c.rstd * (c.weight * gm(at) - meanH - (xs[at] - c.mean) * c.rstd * meanHx);
    });
  }
  return storageFrom(g.dtype, out);
}

export function updateRunningStats(runningMean: Storage | null, runningVar: Storage | null, stats: { mean: Storage; variance: Storage },
  momentum: number, count: number): void {
  checkRunningStats(runningMean, runningVar, stats, count);
  const update = (running: Storage | null, stat: Storage, scale: number) => {
    if (!running) return;
    const r = cpuData(running), s = cpuData(stat);
    for (let k = 0; k < r.length; k++) r[k] = (1 - momentum) * r[k] + momentum * scale * s[k];
  };
  update(runningMean, stats.mean, 1);
  update(runningVar, stats.variance, count / (count - 1));
}
