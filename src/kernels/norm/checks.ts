import type { ChannelLayout, NormLayout, NormTerms, RunningStatsUpdate, Storage } from '../backend.js';

/**
 * The argument rules of the normalisation kernels (moments, normalize, normSums, normBackward,
 * updateRunningStats), shared by the cpu oracle and the WebGPU kernels so that both accept and reject the same
 * arguments: full-size operands of outer·channels·inner elements, per-group statistics, per-parameter weight
 * and bias and per-channel sums of their lengths, one floating-point dtype.
 */

function checkLayout(what: string, layout: ChannelLayout): number {
  const { outer, channels, inner } = layout;
  if (![outer, channels, inner].every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${what}: layout [outer ${outer}, channels ${channels}, inner ${inner}] must be non-negative integers`);
  }
  return outer * channels * inner;
}

/** the storages of some lists (nulls skipped) share one floating-point dtype (no arrays made unless they don't: this
 * runs on every normalisation kernel's call) */
function checkDtypes(what: string, ...lists: (readonly (Storage | null)[])[]): void {
  let dtype: Storage['dtype'] | null = null, same = true;
  for (const list of lists) for (const s of list) if (s) { dtype ??= s.dtype; same &&= s.dtype === dtype; }
  if (dtype === 'int32' || !same) {
    const all = lists.flat().filter((s): s is Storage => s !== null);
    throw new Error(`${what}: operands must share one floating-point dtype, got ${all.map((s) => s.dtype).join(', ')}`);
  }
}

function checkLengths(what: string, kind: string, storages: readonly (Storage | null)[], length: number): void {
  for (const s of storages) if (s && s.length !== length) throw new Error(`${what}: a ${kind} has ${s.length} elements, expected ${length}`);
}

function checkFull(what: string, layout: ChannelLayout, full: readonly (Storage | null)[]): void {
  const n = checkLayout(what, layout);
  for (const s of full) {
    if (s && s.length !== n) {
      throw new Error(`${what}: an operand of ${s.length} elements does not fill [${layout.outer}, ${layout.channels}, ${layout.inner}] (${n})`);
    }
  }
}

/** `running`: the running statistics moments updates too (checked as updateRunningStats checks them) */
export function checkMoments(x: Storage, layout: ChannelLayout, running: RunningStatsUpdate | null): void {
  checkFull('moments', layout, [x]);
  checkDtypes('moments', [x]);
  if (running) checkRunning('moments', running.mean, running.variance, [], layout.channels, [x], running.count);
}

/** full: the full-size operands; sums: the per-channel sums when given */
export function checkNorm(what: string, layout: NormLayout, full: readonly (Storage | null)[], terms: NormTerms,
  sums: readonly Storage[] = []): void {
  const { channels, perGroup, params } = layout;
  if (!(Number.isInteger(perGroup) && perGroup >= 1 && Number.isInteger(params) && params >= 1
    && channels % params === 0 && params % perGroup === 0)) {
    throw new Error(`${what}: ${channels} channels in groups of ${perGroup} with ${params} parameters each: the groups must divide the parameters, the parameters the channels`);
  }
  if (!Number.isFinite(terms.eps) || terms.eps < 0) throw new Error(`${what}: eps must be finite and ≥ 0, got ${terms.eps}`);
  const statistics = [terms.mean, terms.variance], parameters = [terms.weight, terms.bias];
  checkFull(what, layout, full);
  checkLengths(what, 'statistic', statistics, channels / perGroup);
  checkLengths(what, 'weight or bias', parameters, params);
  checkLengths(what, 'per-channel sum', sums, channels);
  checkDtypes(what, full, statistics, parameters, sums);
}

/**
 * The running statistics (those present) and `stats` have `length` elements, share the dtype of `dtypes`, and
 * count > 1.
 */
function checkRunning(what: string, runningMean: Storage | null, runningVar: Storage | null, stats: readonly Storage[],
  length: number, dtypes: readonly Storage[], count: number): void {
  if (!(count > 1)) throw new Error(`${what}: the count of the batch statistics must be > 1 (unbiased variance), got ${count}`);
  const running = [runningMean, runningVar];
  checkLengths(what, 'statistic', stats, length);
  checkLengths(what, 'statistic', running, length);
  checkDtypes(what, dtypes, running);
}

export function checkRunningStats(runningMean: Storage | null, runningVar: Storage | null,
  stats: { mean: Storage; variance: Storage }, count: number): void {
  const all = [stats.mean, stats.variance];
  checkRunning('updateRunningStats', runningMean, runningVar, all, stats.mean.length, all, count);
}
