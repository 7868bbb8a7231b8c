/**
 * The conv3d cases of bench/kernels.ts: forward, input gradient and weight gradient of every V-Net layer at the
 * LA run's patch (batch 4, `large`) and of three small layers, each also once per other candidate kernel (named
 * '<case> · <candidate>', the A/B of the tuner's choices). bench/layer-table.ts reads their results by name.
 */
import type { Backend, Conv3dParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { convGeometry } from '../geometry.js';
import type { WebGPUBackend } from '../webgpu/index.js';
import { candidateName, conv3dCandidates, conv3dTuning, type Conv3dCandidate, type Conv3dOp, type HasLimits } from './webgpu.js';

type Op = 'fwd' | 'dX' | 'dW';
/** a benchmark case; with `candidate`, that kernel computes it (else whatever conv3d chooses) */
interface ConvCase { x: number[]; w: number[]; p: Conv3dParams; op: Conv3dOp; name: string; large: boolean; candidate?: Conv3dCandidate }

function convCaseBenchmark(c: ConvCase): KernelBenchmark {
  const g = convGeometry(c.x, c.w, c.p);
  const outVox = g.out[0] * g.out[1] * g.out[2];
  const inLen = g.n * g.ci * g.in[0] * g.in[1] * g.in[2];
  const gyLen = g.n * g.co * outVox;
  const wLen = g.co * g.ci * g.k[0] * g.k[1] * g.k[2];
  const flops = 2 * g.n * g.co * g.ci * g.k[0] * g.k[1] * g.k[2] * outVox;
  const bytes = 4 * (c.op === 'forward' ? inLen + wLen + g.co + gyLen : c.op === 'backwardInput' ? gyLen + wLen + inLen : inLen + gyLen + wLen);
  return {
    group: 'conv3d', name: c.name, flops, bytes, large: c.large,
    setup(backend: Backend) {
      const gyShape = [g.n, g.co, ...g.out];
      const owned: Storage[] = [];
      const mk = (len: number, v: number): Storage => { const s = backend.fill(len, v, 'float32'); owned.push(s); return s; };
      const run = c.op === 'forward'
        ? ((x, w, b) => () => backend.free(backend.conv3d(x, c.x, w, c.w, b, c.p)))(mk(inLen, 0.5), mk(wLen, 0.01), mk(g.co, 0.1))
        : c.op === 'backwardInput'
          ? ((gy, w) => () => backend.free(backend.conv3dBackwardInput(gy, gyShape, w, c.w, c.x, c.p)))(mk(gyLen, 0.5), mk(wLen, 0.01))
          : ((x, gy) => () => backend.free(backend.conv3dBackwardWeight(x, c.x, gy, gyShape, c.w, c.p)))(mk(inLen, 0.5), mk(gyLen, 0.01));
      const { candidate } = c;
      const forced = candidate && backend.name === 'webgpu' ? () => conv3dTuning((backend as WebGPUBackend).rt).withCandidate(candidate, run) : run;
      return { run: forced, dispose: () => { for (const s of owned) backend.free(s); } };
    },
  };
}

const conv3p: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
const down2: Conv3dParams = { stride: [2, 2, 2], padding: [0, 0, 0], dilation: [1, 1, 1] };
const sp = (s: readonly number[]): string => s.join('×');

/** cases for one layer: forward, input gradient, weight gradient (for 'up' layers: the transposed conv as
 * conv3dBackwardInput, its input gradient as conv3d, its weight gradient as conv3dBackwardWeight). */
function layerCases(name: string, cin: number, cout: number, size: number[], kind: 'conv3' | 'down' | 'up', batch: number, large: boolean): ConvCase[] {
  const suffix = `${cin}→${cout} ${sp(size)} b${batch}`;
  if (kind === 'up') {
    // ConvTranspose3d(cin → cout, 2, stride 2) from `size`: the conv it transposes maps [cout, 2·size] → [cin, size]
    const x = [batch, cout, ...size.map((d) => 2 * d)], w = [cin, cout, 2, 2, 2];
    return [
      { x, w, p: down2, op: 'backwardInput', name: `${name} fwd (convT = bwdInput) ${suffix}`, large },
      { x, w, p: down2, op: 'forward', name: `${name} dX (conv3d) ${suffix}`, large },
      { x, w, p: down2, op: 'backwardWeight', name: `${name} dW ${suffix}`, large },
    ];
  }
  const k = kind === 'conv3' ? 3 : 2;
  const x = [batch, cin, ...size], w = [cout, cin, k, k, k], p = kind === 'conv3' ? conv3p : down2;
  const ops: [Op, ConvCase['op']][] = [['fwd', 'forward'], ['dX', 'backwardInput'], ['dW', 'backwardWeight']];
  return ops.map(([label, op]) => ({ x, w, p, op, name: `${name} ${label} ${suffix}`, large }));
}

/** The V-Net's convolutions at the LA run's patch: name, channels in → out, input size, kind. */
const vnetLayers: [string, number, number, number[], 'conv3' | 'down' | 'up'][] = [
  ['enc1 conv3', 1, 16, [112, 112, 80], 'conv3'], ['enc1 conv3', 16, 16, [112, 112, 80], 'conv3'],
  ['down1', 16, 32, [112, 112, 80], 'down'], ['enc2 conv3', 32, 32, [56, 56, 40], 'conv3'],
  ['down2', 32, 64, [56, 56, 40], 'down'], ['enc3 conv3', 64, 64, [28, 28, 20], 'conv3'],
  ['down3', 64, 128, [28, 28, 20], 'down'], ['enc4 conv3', 128, 128, [14, 14, 10], 'conv3'],
  ['down4', 128, 256, [14, 14, 10], 'down'], ['enc5 conv3', 256, 256, [7, 7, 5], 'conv3'],
  ['up5', 256, 128, [7, 7, 5], 'up'], ['up6', 128, 64, [14, 14, 10], 'up'],
  ['up7', 64, 32, [28, 28, 20], 'up'], ['up8', 32, 16, [56, 56, 40], 'up'],
];

/** Limits every adapter we run on has (llvmpipe: 32 KiB of workgroup memory, the H200 48 KiB): the variants'
 * candidates are listed once, for all of them. */
const nominal: HasLimits = {
  limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxStorageBufferBindingSize: 2 ** 27 },
};

/** The case, then one variant per other candidate, named '<case> · <candidate>' (the A/B of the tuner's choices). */
const withVariants = (c: ConvCase): ConvCase[] => [c, ...conv3dCandidates(nominal, c.op, c.x, c.w, c.p).slice(1)
  .map((candidate) => ({ ...c, candidate, name: `${c.name} · ${candidateName(candidate)}` }))];

export const benchmarks: KernelBenchmark[] = [
  ...vnetLayers.flatMap(([name, cin, cout, size, kind]) => layerCases(name, cin, cout, size, kind, 4, true)),
  ...layerCases('small conv3', 8, 8, [16, 16, 16], 'conv3', 1, false),
  ...layerCases('small down', 8, 16, [16, 16, 16], 'down', 1, false),
  ...layerCases('small up', 16, 8, [8, 8, 8], 'up', 1, false),
].flatMap(withVariants).map(convCaseBenchmark);
