import type { ChannelAffineTerms, ChannelLayout, Storage } from '../backend.js';
import { checkChannelAffine, checkChannelSums, checkMoments } from '../channels.js';
import { cpuData, storageFrom, type CpuStorage } from './storage.js';

/**
 * The per-channel operations of the normalisation layers, in float64: exact two-pass statistics, the two sums
 * of the backward, and the per-channel affine map. Element (o, k, i) of a [outer, channels, inner] layout is at
 * (o·channels + k)·inner + i.
 */

/** Calls fn(flat index) for every element of channel k, in memory order. */
function forChannel(layout: ChannelLayout, k: number, fn: (at: number) => void): void {
  const { outer, channels, inner } = layout;
  for (let o = 0; o < outer; o++) {
    const base = (o * channels + k) * inner;
    for (let i = 0; i < inner; i++) fn(base + i);
  }
}

export function moments(x: Storage, layout: ChannelLayout): { mean: CpuStorage; variance: CpuStorage } {
  checkMoments(x, layout);
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
  return { mean: storageFrom(x.dtype, mean), variance: storageFrom(x.dtype, variance) };
}

export function channelSums(u: Storage, v: Storage, m: Storage, layout: ChannelLayout): { sum: CpuStorage; dot: CpuStorage } {
  checkChannelSums(u, v, m, layout);
  const us = cpuData(u), vs = cpuData(v), ms = cpuData(m);
  const sum = new Float64Array(layout.channels), dot = new Float64Array(layout.channels);
  for (let k = 0; k < layout.channels; k++) {
    forChannel(layout, k, (at) => {
      sum[k] += us[at];
      dot[k] += us[at] * (vs[at] - ms[k]);
    });
  }
  return { sum: storageFrom(u.dtype, sum), dot: storageFrom(u.dtype, dot) };
}

export function channelAffine(u: Storage, v: Storage | null, t: ChannelAffineTerms, layout: ChannelLayout): CpuStorage {
  checkChannelAffine(u, v, t, layout);
  const us = cpuData(u), vs = v ? cpuData(v) : null;
  const a = cpuData(t.a), m = t.m ? cpuData(t.m) : null, b = t.b ? cpuData(t.b) : null, c = t.c ? cpuData(t.c) : null;
  const out = new Float64Array(us.length);
  for (let k = 0; k < layout.channels; k++) {
    forChannel(layout, k, (at) => {
      out[at] = a[k] * (us[at] - (m ? m[k] : 0)) + (vs && b ? b[k] * vs[at] : 0) + (c ? c[k] : 0);
    });
  }
  return storageFrom(u.dtype, out);
}
