import type { ChannelAffineTerms, ChannelLayout, Storage } from './backend.js';

/**
 * The argument rules of the per-channel operations (moments, channelSums, channelAffine), shared by the cpu
 * oracle and the WebGPU kernels so that both accept and reject the same arguments: full-size operands of
 * outer·channels·inner elements, per-channel terms of `channels` elements, one floating-point dtype.
 */

function checkLayout(what: string, layout: ChannelLayout): number {
  const { outer, channels, inner } = layout;
  if (![outer, channels, inner].every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${what}: layout [outer ${outer}, channels ${channels}, inner ${inner}] must be non-negative integers`);
  }
  return outer * channels * inner;
}

function checkOperands(what: string, layout: ChannelLayout, full: readonly Storage[], perChannel: readonly Storage[]): void {
  const n = checkLayout(what, layout);
  for (const s of full) {
    if (s.length !== n) {
      throw new Error(`${what}: an operand of ${s.length} elements does not fill [${layout.outer}, ${layout.channels}, ${layout.inner}] (${n})`);
    }
  }
  for (const s of perChannel) {
    if (s.length !== layout.channels) throw new Error(`${what}: a per-channel term has ${s.length} elements, expected ${layout.channels}`);
  }
  const dtype = full[0].dtype;
  if (dtype === 'int32' || [...full, ...perChannel].some((s) => s.dtype !== dtype)) {
    throw new Error(`${what}: operands must share one floating-point dtype, got ${[...full, ...perChannel].map((s) => s.dtype).join(', ')}`);
  }
}

export function checkMoments(x: Storage, layout: ChannelLayout): void {
  checkOperands('moments', layout, [x], []);
}

export function checkChannelSums(u: Storage, v: Storage, m: Storage, layout: ChannelLayout): void {
  checkOperands('channelSums', layout, [u, v], [m]);
}

export function checkChannelAffine(u: Storage, v: Storage | null, t: ChannelAffineTerms, layout: ChannelLayout): void {
  if ((v === null) !== (t.b === null)) throw new Error('channelAffine: the operand v and the term b go together');
  const present = (xs: (Storage | null)[]) => xs.filter((s): s is Storage => s !== null);
  checkOperands('channelAffine', layout, present([u, v]), present([t.a, t.m, t.b, t.c]));
}
