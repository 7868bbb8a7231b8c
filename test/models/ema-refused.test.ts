import { describe, expect, it } from 'vitest';
import { BatchNorm3d, Linear, Sequential, ema, toHost } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * ema(teacher, student, decay, { buffers }) refused because the buffers differ (a student without running statistics)
 * changes nothing: the teacher's parameters are not averaged before the buffers are found to differ.
 */

const net = (seed: number, trackRunningStats: boolean) =>
  new Sequential(new Linear(2, 3, { seed, backend: cpu }), new BatchNorm3d(3, { trackRunningStats, backend: cpu }));

describe('ema refused on differing buffers', () => {
  it.each(['copy', 'ema'] as const)('buffers %s: named, and the teacher keeps its parameters and buffers', async (buffers) => {
    const teacher = net(1, true), student = net(2, false);
    const before = await toHost(teacher.stateDict());
    expect(() => ema(teacher, student, 0.5, { buffers })).toThrow(/ema: buffer 1\.running_mean differs between teacher and student/);
    expect(await toHost(teacher.stateDict())).toEqual(before);
    teacher.dispose();
    student.dispose();
  });
});
