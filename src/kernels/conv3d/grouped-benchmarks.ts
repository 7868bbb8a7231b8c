/**
 * The grouped conv3d cases of bench/kernels.ts: forward, input gradient and weight gradient of depthwise
 * convolutions (a 3³ one at a small size, and a MedNeXt-like 7³ block at a real one) and of a channel multiplier.
 */
import type { Backend, Conv3dParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { convGeometry } from '../geometry.js';

type Op = 'fwd' | 'dX' | 'dW';

function groupedCase(label: string, x: number[], w: number[], groups: number, p: Conv3dParams, op: Op, large: boolean): KernelBenchmark {
  const g = convGeometry([x[0]!, x[1]! / groups, ...x.slice(2)], w, p);
  const outVox = g.out[0] * g.out[1] * g.out[2];
  const inLen = x.reduce((a, b) => a * b, 1), gyLen = g.n * g.co * outVox, wLen = w.reduce((a, b) => a * b, 1);
  const gyShape = [g.n, g.co, ...g.out];
  return {
    group: 'conv3d', name: `${label} ${op} ${x.slice(1).join('×')} groups ${groups}`, large,
    flops: 2 * g.n * g.co * g.ci * g.k[0] * g.k[1] * g.k[2] * outVox,
    bytes: 4 * (op === 'fwd' ? inLen + wLen + gyLen : op === 'dX' ? gyLen + wLen + inLen : inLen + gyLen + wLen),
    setup(backend: Backend) {
      const owned: Storage[] = [];
      const mk = (len: number, v: number): Storage => { const s = backend.fill(len, v, 'float32'); owned.push(s); return s; };
      const run = op === 'fwd'
        ? ((xs, ws) => () => backend.free(backend.conv3dGrouped(xs, x, ws, w, null, p, groups)))(mk(inLen, 0.5), mk(wLen, 0.01))
        : op === 'dX'
          ? ((gy, ws) => () => backend.free(backend.conv3dGroupedBackwardInput(gy, gyShape, ws, w, x, p, groups)))(mk(gyLen, 0.5), mk(wLen, 0.01))
          : ((xs, gy) => () => backend.free(backend.conv3dGroupedBackwardWeight(xs, x, gy, gyShape, w, p, groups)))(mk(inLen, 0.5), mk(gyLen, 0.01));
      return { run, dispose: () => { for (const s of owned) backend.free(s); } };
    },
  };
}

const same = (k: number): Conv3dParams => ({ stride: [1, 1, 1], padding: [k >> 1, k >> 1, k >> 1], dilation: [1, 1, 1] });
const ops: Op[] = ['fwd', 'dX', 'dW'];

export const groupedBenchmarks: KernelBenchmark[] = [
  ...ops.map((op) => groupedCase('depthwise 3³', [1, 32, 32, 32, 16], [32, 1, 3, 3, 3], 32, same(3), op, false)),
  ...ops.map((op) => groupedCase('depthwise 3³ ×2', [1, 16, 16, 16, 16], [32, 1, 3, 3, 3], 16, same(3), op, false)),
  ...ops.map((op) => groupedCase('depthwise 7³', [2, 64, 64, 64, 64], [64, 1, 7, 7, 7], 64, same(7), op, true)),
];
