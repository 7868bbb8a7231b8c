import type { ConvGeometry } from '../geometry.js';
import { grid1d } from '../webgpu/runtime.js';
import { emitAccumulators, emitTileProduct } from './gemm-tile.js';
import { epilogueBindings, epilogueChannel, epilogueDeclarations, epilogueKey, epilogueStore, kernelBuffers, type Conv3dPlan, type Epilogue } from './plan.js';

/**
 * conv3d's gradient w.r.t. the input when the kernel equals the stride, without padding or dilation (the
 * V-Net's 2³/2 down convolutions, whose input gradient is the decoder's transposed 2³/2 "up" convolution).
 * The receptive fields then tile the input exactly, so every input voxel receives exactly one tap:
 *
 *   gx[n, ci, j·s + r] = Σ_co gy[n, co, j] · w[co, ci, r]        (j: output voxel, r: tap, both 3-vectors)
 *
 * which is one plain GEMM  C[m, (ci, r)] = Σ_co A[m, co] · B[co, (ci, r)]  with M = N·Do·Ho·Wo coarse voxels,
 * N = Ci·kd·kh·kw, K = Co, A = gy read along voxels (contiguous per channel) and B = w exactly as stored
 * ([Co, Ci·k³] row-major). Each gy element is read once and each gx element written once; the write scatters
 * column (ci, r) of row m to gx[n, ci, j·s + r] (the lanes of a warp write neighbouring j, the two w-taps of a
 * thread's vec4 fill the gaps between them).
 *
 * Tiles: BM = 128 rows × BN columns (64, or 32/16 when Ci·k³ is small), BK = 16, 128 invocations, each
 * TM × TN outputs (8 × 8 with BN = 64). A and B chunks are staged in workgroup memory (A as [k][m], B as
 * [k][n/4] vec4); per k step an invocation does TM scalar A loads (conflict-free, interleaved rows) and TN/4
 * broadcast vec4 B loads for TM·TN FMAs. The store applies the epilogue (convTranspose3d's bias, an
 * evaluation-mode batch norm, a ReLU) per written channel ci.
 */

/** The convolution's shapes (kernel = stride): out is gy's spatial size, co the GEMM's K, ci·k³ its N. */
export type UpProblem = Pick<ConvGeometry, 'n' | 'co' | 'ci' | 'out' | 'k'>;

export interface UpTiles { bm: number; bn: number; bk: number; tm: number; tn: number }

export const UP_THREADS = 128;

export function upTiles(p: UpProblem): UpTiles {
  const cols = p.ci * p.k[0] * p.k[1] * p.k[2];
  const bn = cols >= 64 ? 64 : cols > 16 ? 32 : 16;
  const tn = bn === 16 ? 4 : 8;
  const bm = 128;
  // (bm / tm) · (bn / tn) = UP_THREADS
  const tm = (bm * bn) / (tn * UP_THREADS);
  return { bm, bn, bk: 16, tm, tn };
}

/** WGSL source of one up-GEMM pipeline. Bindings: gy, w, [the epilogue's], gx. */
export function upSource(p: UpProblem, t: UpTiles, e: Epilogue): string {
  const [OD, OH, OW] = p.out, [KD, KH, KW] = p.k;
  const D = OD * KD, H = OH * KH, W = OW * KW;
  const OV = OD * OH * OW, KV = KD * KH * KW;
  const M = p.n * OV, NC = p.ci * KV;
  const MT = t.bm / t.tm, NT = t.bn / t.tn, TN4 = t.tn / 4, BN4 = t.bn / 4;
  if (MT * NT !== UP_THREADS) throw new Error(`conv3d up: tiles ${JSON.stringify(t)} do not give ${UP_THREADS} invocations`);
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };
  emit(`@group(0) @binding(0) var<storage, read> GY: array<f32>;`);
  emit(`@group(0) @binding(1) var<storage, read> Wt: array<f32>;`);
  for (const d of epilogueDeclarations(e, 2)) emit(d);
  emit(`@group(0) @binding(${2 + epilogueBindings(e)}) var<storage, read_write> GX: array<f32>;`);
  emit(`var<workgroup> As: array<f32, ${t.bk * t.bm}>;`);
  emit(`var<workgroup> Bs: array<vec4<f32>, ${t.bk * BN4}>;`);
  emit(`@compute @workgroup_size(${UP_THREADS})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  emit(`  let mTile = wg.x + wg.z * nwg.x;`);
  emit(`  if (mTile * ${t.bm}u >= ${M}u) { return; }`);
  emit(`  let m0 = mTile * ${t.bm}u; let n0 = wg.y * ${t.bn}u;`);
  emit(`  let tm = tid % ${MT}u; let tn = tid / ${MT}u;`);
  // A loader: invocation tid loads row m0 + tid (BM = 128 = invocations) for every k of the chunk
  emit(`  let lm = m0 + tid;`);
  emit(`  let lok = lm < ${M}u;`);
  emit(`  let abase = (lm / ${OV}u) * ${p.co * OV}u + lm % ${OV}u;`);
  emitAccumulators(emit, t);
  emit(`  for (var k0 = 0u; k0 < ${p.co}u; k0 += ${t.bk}u) {`);
  for (let kk = 0; kk < t.bk; kk++) {
    emit(`    { var a = 0.0; if (lok && k0 + ${kk}u < ${p.co}u) { a = GY[abase + (k0 + ${kk}u) * ${OV}u]; } As[${kk * t.bm}u + tid] = a; }`);
  }
  emit(`    for (var e = tid; e < ${t.bk * BN4}u; e += ${UP_THREADS}u) {`);
  emit(`      let kk = e / ${BN4}u; let c = n0 + (e % ${BN4}u) * 4u;`);
  emit(`      var b = vec4<f32>(0.0);`);
  emit(`      if (k0 + kk < ${p.co}u) {`);
  emit(`        let rb = (k0 + kk) * ${NC}u;`);
  for (let c = 0; c < 4; c++) emit(`        if (c + ${c}u < ${NC}u) { b[${c}] = Wt[rb + c + ${c}u]; }`);
  emit(`      }`);
  emit(`      Bs[e] = b;`);
  emit(`    }`);
  emitTileProduct(emit, { bm: t.bm, bk: t.bk, tm: t.tm, tn: t.tn, bStride: BN4 });
  emit(`  }`);
  // scattered write: row m's base address, then column (ci, r)'s offset
  for (let i = 0; i < t.tm; i++) {
    emit(`  let row${i} = m0 + tm + ${i * MT}u;`);
    emit(`  let j${i} = row${i} % ${OV}u;`);
    emit(`  let mb${i} = (row${i} / ${OV}u) * ${p.ci * D * H * W}u + (j${i} / ${OH * OW}u) * ${KD * H * W}u + ((j${i} / ${OW}u) % ${OH}u) * ${KH * W}u + (j${i} % ${OW}u) * ${KW}u;`);
  }
  for (let q = 0; q < TN4; q++) {
    for (let c = 0; c < 4; c++) {
      emit(`  { let col = n0 + tn * ${t.tn}u + ${4 * q + c}u;`);
      emit(`    if (col < ${NC}u) {`);
      emit(`      let ci = col / ${KV}u; let r = col % ${KV}u;`);
      emit(`      let coff = ci * ${D * H * W}u + (r / ${KH * KW}u) * ${H * W}u + ((r / ${KW}u) % ${KH}u) * ${W}u + r % ${KW}u;`);
      for (const line of epilogueChannel(e, 'ci')) emit(`      ${line}`);
      for (let i = 0; i < t.tm; i++) emit(`      if (row${i} < ${M}u) { ${epilogueStore(e, `GX[mb${i} + coff]`, `acc${i}_${q}[${c}]`)} }`);
      emit(`    }`);
      emit(`  }`);
    }
  }
  emit(`}`);
  return lines.join('\n');
}

/** The up GEMM's plan for an input gradient, or null where it does not apply (kernel = stride, no padding, no
 * dilation, and the input an exact multiple of the output). */
export function upPlan(g: ConvGeometry, e: Epilogue): Conv3dPlan | null {
  if (![0, 1, 2].every((a) => g.k[a] === g.s[a] && g.p[a] === 0 && g.dil[a] === 1 && g.in[a] === g.out[a] * g.s[a])) return null;
  const p: UpProblem = { n: g.n, co: g.co, ci: g.ci, out: g.out, k: g.k };
  const t = upTiles(p);
  const name = epilogueKey(e);
  const key = `conv3d:up:${JSON.stringify(p)}:${JSON.stringify(t)}${name && `:${name}`}`;
  const mTiles = Math.ceil((p.n * p.out[0] * p.out[1] * p.out[2]) / t.bm);
  const nTiles = Math.ceil((p.ci * p.k[0] * p.k[1] * p.k[2]) / t.bn);
  return {
    describe: () => `up GEMM: ${t.bm}×${t.bn}×${t.bk} tiles, ${t.tm}×${t.tn} per invocation, ${UP_THREADS} invocations`,
    run(rt, gy, w, operands, out) {
      const kernel = rt.kernel(key, () => upSource(p, t, e), 3 + operands.length);
      const [gx, gz] = grid1d(mTiles, 1);
      rt.dispatch(kernel, kernelBuffers(gy, w, operands, out.buffer), null, [gx, nTiles, gz]);
    },
  };
}
