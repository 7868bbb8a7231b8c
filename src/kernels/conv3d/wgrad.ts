/**
 * conv3d's gradient w.r.t. the weight:
 *
 *   gw[co, ci, kd, kh, kw] = Σ_{n, o} gy[n, co, o] · x[n, ci, o·s − p + k·dil]
 *
 * GEMM view: M = Co, N = Ci·kd·kh·kw, K = N·Do·Ho·Wo, a few thousand outputs over a reduction of millions.
 *
 * - K is cut into chunks, each a BD×BH×BW block of output voxels of one sample. A workgroup owns BM = TM·MG
 *   output channels × GT "column groups" (ci, kd, kh) — every kw tap of each — and walks a contiguous range
 *   of chunks (split-K: grid y is the split; with more than one split every split writes its partial
 *   weight gradient and a second small pass sums them).
 * - Per chunk it stages in workgroup memory the block's output gradient gy[v][co] (BM channels per voxel,
 *   rows padded so that vec4 reads of neighbouring voxels hit distinct banks) and the block's input halo
 *   x[ci][d][h][w] for the CT channels its column groups touch — the im2col matrix is never built: column
 *   (ci, kd, kh, kw) of voxel v is the halo element at a fixed offset from v's origin.
 * - Register blocking: an invocation accumulates TM channels × KW taps (TM/4 vec4 per tap). Per voxel it does
 *   TM/4 vec4 gy loads and KW x loads for TM·KW FMAs. VG invocations share a column group and take every
 *   VG-th voxel along w (neighbouring lanes read neighbouring x words); their partial sums meet through
 *   workgroup memory at the end. VG > 1 gives work to wide workgroups when Ci·kd·kh is small (Ci = 1).
 *
 * Every size is a WGSL constant (one pipeline per shape), so chunk and halo index decomposition divides by
 * constants only.
 */

import type { ConvGeometry } from '../geometry.js';
import { bankWays, cachedTiles, fmt, limitsOf, maxSplitParts, noEpilogue, withSplitK, type Conv3dPlan, type Limits, type PlanContext } from './plan.js';

export interface WgradTiles {
  /** output channels per invocation (a multiple of 4) */
  tm: number;
  /** channel groups: BM = tm·mg */
  mg: number;
  /** column groups (ci, kd, kh) per workgroup */
  gt: number;
  /** invocations per column group, splitting the voxels of a chunk along w */
  vg: number;
  block: [number, number, number];
  /** K splits (grid y) and chunks per split */
  splits: number;
  perSplit: number;
}

export interface WgradLayout {
  threads: number;
  bm: number;
  /** gy row stride in workgroup memory, in floats */
  gstride: number;
  /** input channels staged per chunk */
  ct: number;
  aligned: boolean;
  halo: [number, number, number];
  /** padded halo row */
  ewp: number;
  nb: [number, number, number];
  chunks: number;
  groups: number;
  colTiles: number;
  coTiles: number;
  xsLen: number;
  sharedBytes: number;
}

export function wgradLayout(p: ConvGeometry, t: WgradTiles): WgradLayout {
  const bm = t.tm * t.mg;
  const gstride = (bm / 4) % 2 === 1 ? bm : bm + 4;
  const kdkh = p.k[0] * p.k[1];
  const aligned = t.gt % kdkh === 0;
  const ct = aligned ? t.gt / kdkh : Math.min(p.ci, Math.floor((t.gt - 1) / kdkh) + 2);
  const halo = [0, 1, 2].map((a) => (t.block[a] - 1) * p.s[a] + (p.k[a] - 1) * p.dil[a] + 1) as [number, number, number];
  const ewp = halo[2];
  const nb = [0, 1, 2].map((a) => Math.ceil(p.out[a] / t.block[a])) as [number, number, number];
  const threads = t.vg * t.gt * t.mg;
  const bv = t.block[0] * t.block[1] * t.block[2];
  const xsLen = Math.max(ct * halo[0] * halo[1] * ewp, t.vg > 1 ? threads * t.tm : 0);
  const groups = p.ci * kdkh;
  return {
    threads, bm, gstride, ct, aligned, halo, ewp, nb, chunks: p.n * nb[0] * nb[1] * nb[2], groups,
    colTiles: Math.ceil(groups / t.gt), coTiles: Math.ceil(p.co / bm), xsLen,
    sharedBytes: 4 * (xsLen + bv * gstride),
  };
}

/** WGSL source. Bindings: x, gy, out (the weight gradient, or the split partials). */
export function wgradSource(p: ConvGeometry, t: WgradTiles): string {
  const L = wgradLayout(p, t);
  const [D, H, W] = p.in, [OD, OH, OW] = p.out, [KD, KH, KW] = p.k;
  const [BD, BH, BW] = t.block;
  const [ED, EH] = L.halo;
  const EWP = L.ewp;
  const HALO = ED * EH * EWP;
  const BV = BD * BH * BW;
  const TM4 = t.tm / 4, BM4 = L.bm / 4, GS4 = L.gstride / 4;
  const KDKH = KD * KH;
  const outLen = p.co * p.ci * KD * KH * KW;
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };

  emit(`@group(0) @binding(0) var<storage, read> X: array<f32>;`);
  emit(`@group(0) @binding(1) var<storage, read> GY: array<f32>;`);
  emit(`@group(0) @binding(2) var<storage, read_write> Out: array<f32>;`);
  emit(`var<workgroup> xs: array<f32, ${L.xsLen}>;`);
  emit(`var<workgroup> gys: array<vec4<f32>, ${BV * GS4}>;`);
  emit(`@compute @workgroup_size(${L.threads})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  emit(`  let colTile = wg.x % ${L.colTiles}u; let coTile = wg.x / ${L.colTiles}u; let split = wg.y;`);
  emit(`  let coBase = coTile * ${L.bm}u;`);
  emit(`  let vg = tid % ${t.vg}u; let gl = (tid / ${t.vg}u) % ${t.gt}u; let mg = tid / ${t.vg * t.gt}u;`);
  emit(`  let g0 = colTile * ${t.gt}u;`);
  emit(`  let ciBase = g0 / ${KDKH}u;`);
  emit(`  let g = g0 + gl;`);
  emit(`  let gok = g < ${L.groups}u;`);
  emit(`  let ci = select(ciBase, g / ${KDKH}u, gok);`);
  emit(`  let kd = (g / ${KH}u) % ${KD}u; let kh = g % ${KH}u;`);
  emit(`  let cl = ci - ciBase;`);
  emit(`  let colBase = (cl * ${ED}u + kd * ${p.dil[0]}u) * ${EH * EWP}u + kh * ${p.dil[1] * EWP}u;`);
  for (let kw = 0; kw < KW; kw++) for (let q = 0; q < TM4; q++) emit(`  var acc${kw}_${q} = vec4<f32>(0.0);`);
  emit(`  let cStart = split * ${t.perSplit}u;`);
  emit(`  let cEnd = min(${L.chunks}u, cStart + ${t.perSplit}u);`);
  emit(`  for (var c = cStart; c < cEnd; c++) {`);
  emit(`    let bw = c % ${L.nb[2]}u; let bh = (c / ${L.nb[2]}u) % ${L.nb[1]}u;`);
  emit(`    let bd = (c / ${L.nb[2] * L.nb[1]}u) % ${L.nb[0]}u; let n = c / ${L.nb[2] * L.nb[1] * L.nb[0]}u;`);
  emit(`    let od0 = bd * ${BD}u; let oh0 = bh * ${BH}u; let ow0 = bw * ${BW}u;`);
  // stage gy: gys[v·GS4 + q] = gy[n, coBase + 4q + (0..3), voxel v]; consecutive invocations take consecutive v
  emit(`    for (var e = tid; e < ${BV * BM4}u; e += ${L.threads}u) {`);
  emit(`      let v = e % ${BV}u; let q = e / ${BV}u;`);
  emit(`      let od = od0 + v / ${BH * BW}u; let oh = oh0 + (v / ${BW}u) % ${BH}u; let ow = ow0 + v % ${BW}u;`);
  emit(`      var val = vec4<f32>(0.0);`);
  emit(`      if (od < ${OD}u && oh < ${OH}u && ow < ${OW}u) {`);
  emit(`        let co = coBase + q * 4u;`);
  emit(`        let at = (n * ${p.co}u + co) * ${OD * OH * OW}u + (od * ${OH}u + oh) * ${OW}u + ow;`);
  for (let c = 0; c < 4; c++) emit(`        if (co + ${c}u < ${p.co}u) { val[${c}] = GY[at + ${c * OD * OH * OW}u]; }`);
  emit(`      }`);
  emit(`      gys[v * ${GS4}u + q] = val;`);
  emit(`    }`);
  // stage the x halo of the CT channels
  emit(`    let hd0 = i32(od0 * ${p.s[0]}u) - ${p.p[0]}; let hh0 = i32(oh0 * ${p.s[1]}u) - ${p.p[1]}; let hw0 = i32(ow0 * ${p.s[2]}u) - ${p.p[2]};`);
  emit(`    for (var e = tid; e < ${L.ct * HALO}u; e += ${L.threads}u) {`);
  emit(`      let xc = ciBase + e / ${HALO}u; let r = e % ${HALO}u;`);
  emit(`      let id = hd0 + i32(r / ${EH * EWP}u); let ih = hh0 + i32((r / ${EWP}u) % ${EH}u); let iw = hw0 + i32(r % ${EWP}u);`);
  emit(`      var val = 0.0;`);
  emit(`      if (xc < ${p.ci}u && u32(id) < ${D}u && u32(ih) < ${H}u && u32(iw) < ${W}u) {`);
  emit(`        val = X[((n * ${p.ci}u + xc) * ${D}u + u32(id)) * ${H * W}u + u32(ih) * ${W}u + u32(iw)];`);
  emit(`      }`);
  emit(`      xs[e] = val;`);
  emit(`    }`);
  emit(`    workgroupBarrier();`);
  emit(`    for (var vd = 0u; vd < ${BD}u; vd++) {`);
  emit(`      for (var vh = 0u; vh < ${BH}u; vh++) {`);
  emit(`        let xrow = colBase + (vd * ${p.s[0] * EH}u + vh * ${p.s[1]}u) * ${EWP}u;`);
  emit(`        let grow = (vd * ${BH}u + vh) * ${BW}u;`);
  emit(`        for (var vw = vg; vw < ${BW}u; vw += ${t.vg}u) {`);
  emit(`          let gb = (grow + vw) * ${GS4}u + mg * ${TM4}u;`);
  for (let q = 0; q < TM4; q++) emit(`          let g${q} = gys[gb + ${q}u];`);
  emit(`          let xb = xrow + vw * ${p.s[2]}u;`);
  for (let kw = 0; kw < KW; kw++) {
    emit(`          let x${kw} = xs[xb + ${kw * p.dil[2]}u];`);
    for (let q = 0; q < TM4; q++) emit(`          acc${kw}_${q} += g${q} * x${kw};`);
  }
  emit(`        }`);
  emit(`      }`);
  emit(`    }`);
  emit(`    workgroupBarrier();`);
  emit(`  }`);
  // the VG invocations of a column group sum their partials through workgroup memory, one tap at a time
  if (t.vg > 1) {
    // R taps per round: as many as the staging buffer holds (one round, two barriers, in the common case)
    const R = Math.max(1, Math.min(KW, Math.floor(L.xsLen / (L.threads * t.tm))));
    for (let r0 = 0; r0 < KW; r0 += R) {
      const taps = Array.from({ length: Math.min(R, KW - r0) }, (_, i) => r0 + i);
      emit(`  workgroupBarrier();`);
      for (const kw of taps) {
        for (let q = 0; q < TM4; q++) for (let c = 0; c < 4; c++) emit(`  xs[${(kw - r0) * L.threads * t.tm}u + tid * ${t.tm}u + ${4 * q + c}u] = acc${kw}_${q}[${c}];`);
      }
      emit(`  workgroupBarrier();`);
      emit(`  if (vg == 0u) {`);
      emit(`    for (var u = 1u; u < ${t.vg}u; u++) {`);
      emit(`      let rb = (tid + u) * ${t.tm}u;`);
      for (const kw of taps) {
        const o = (kw - r0) * L.threads * t.tm;
        for (let q = 0; q < TM4; q++) {
          emit(`      acc${kw}_${q} += vec4<f32>(xs[${o}u + rb + ${4 * q}u], xs[${o}u + rb + ${4 * q + 1}u], xs[${o}u + rb + ${4 * q + 2}u], xs[${o}u + rb + ${4 * q + 3}u]);`);
        }
      }
      emit(`    }`);
      emit(`  }`);
    }
  }
  const part = t.splits > 1 ? `split * ${outLen}u + ` : '';
  emit(`  if (vg == 0u && gok) {`);
  emit(`    let colOut = (ci * ${KD}u + kd) * ${KH * KW}u + kh * ${KW}u;`);
  for (let q = 0; q < TM4; q++) {
    for (let c = 0; c < 4; c++) {
      emit(`    { let co = coBase + mg * ${t.tm}u + ${4 * q + c}u;`);
      emit(`      if (co < ${p.co}u) {`);
      emit(`        let ob = ${part}co * ${p.ci * KD * KH * KW}u + colOut;`);
      for (let kw = 0; kw < KW; kw++) emit(`        Out[ob + ${kw}u] = acc${kw}_${q}[${c}];`);
      emit(`      }`);
      emit(`    }`);
    }
  }
  emit(`  }`);
  emit(`}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// tiles and plans

function chooseWgrad(p: ConvGeometry, lim: Limits): WgradTiles {
  const [KD, KH, KW] = p.k;
  const kdkh = KD * KH, kv = kdkh * KW;
  let tm = p.co <= 4 ? 4 : p.co <= 8 ? 8 : 16;
  while (tm > 4 && tm * KW > 64) tm -= 4;
  const mg = kv <= 8 && p.co >= 2 * tm ? Math.min(4, Math.ceil(p.co / tm)) : 1;
  const perMg = Math.floor(lim.threads / mg);
  let ctMax = kdkh <= perMg ? Math.floor(perMg / kdkh) : 0;
  for (;;) {
    let gt: number;
    if (ctMax > 0) {
      const ct = Math.ceil(p.ci / Math.ceil(p.ci / ctMax));
      gt = ct * kdkh;
    } else {
      gt = Math.max(1, Math.min(perMg, p.ci * kdkh));
    }
    let vg = 1;
    while (vg < 32 && 2 * vg * gt * mg <= lim.threads) vg *= 2;
    const [OD, OH, OW] = p.out;
    let best: WgradTiles | null = null, bestCost = Infinity;
    for (let bw = 1; bw <= Math.min(OW, 64); bw++) {
      for (let bh = 1; bh <= Math.min(OH, 16, Math.floor(512 / bw)); bh++) {
        for (let bd = 1; bd <= Math.min(OD, 8, Math.floor(512 / (bw * bh))); bd++) {
          const t: WgradTiles = { tm, mg, gt, vg, block: [bd, bh, bw], splits: 1, perSplit: 1 };
          const L = wgradLayout(p, t);
          if (L.sharedBytes > lim.shared) continue;
          const warps = Math.ceil(L.threads / 32);
          const bv = bd * bh * bw;
          // x words the first warp reads for one voxel step (lane = (vg, column group))
          const lanes: number[] = [];
          for (let l = 0; l < Math.min(32, L.threads); l++) {
            const lvg = l % vg, gl = Math.floor(l / vg) % gt;
            const kd = Math.floor(gl / KH) % KD, kh = gl % KH, cl = Math.floor(gl / kdkh);
            lanes.push(((cl * L.halo[0] + kd * p.dil[0]) * L.halo[1] + kh * p.dil[1]) * L.ewp + lvg * p.s[2]);
          }
          const compute = Math.ceil(bw / vg) * bh * bd * (tm / 4 + KW * bankWays(lanes) + (KW * tm) / 4) * warps * 32;
          const staging = 12 * (L.ct * L.halo[0] * L.halo[1] * L.ewp + (bv * L.bm) / 4) + 600;
          const cost = L.chunks * (compute + staging);
          if (cost < bestCost) { best = t; bestCost = cost; }
        }
      }
    }
    if (best) return best;
    if (ctMax > 1) { ctMax = Math.floor(ctMax / 2); continue; }
    throw new Error(`webgpu conv3d: no weight-gradient tile for kernel ${fmt(p.k)} fits ${lim.shared} bytes of workgroup memory`);
  }
}

function wgradSplits(ctx: PlanContext, p: ConvGeometry, base: WgradTiles): WgradTiles {
  const L = wgradLayout(p, base);
  const outLen = p.co * p.ci * p.k[0] * p.k[1] * p.k[2];
  let splits = Math.min(L.chunks, Math.ceil(ctx.knobs.targetWorkgroups / (L.coTiles * L.colTiles)), 65535);
  splits = Math.max(1, Math.min(splits, maxSplitParts(ctx, outLen)));
  const perSplit = Math.ceil(L.chunks / splits);
  return { ...base, splits: Math.ceil(L.chunks / perSplit), perSplit };
}

/** The wgrad kernel's plan for a weight gradient: split-K over the chunks plus a summing pass. */
export function wgradPlan(ctx: PlanContext, g: ConvGeometry): Conv3dPlan {
  const lim = limitsOf(ctx.rt);
  const t = wgradSplits(ctx, g, cachedTiles(`wgrad:${JSON.stringify(g)}:${JSON.stringify(lim)}`, () => chooseWgrad(g, lim)));
  const L = wgradLayout(g, t);
  const key = `conv3d:wgrad:${JSON.stringify(g)}:${JSON.stringify(t)}`;
  const o = { len: g.co * g.ci * g.k[0] * g.k[1] * g.k[2], inner: 1, channels: 1 };
  return {
    describe: () => `wgrad: ${t.tm} co × ${g.k[2]} kw per invocation, mg ${t.mg}, ${t.gt} (ci,kd,kh) groups × vg ${t.vg} = ${L.threads} invocations, block ${t.block.join('×')}, ${L.chunks} chunks, ${L.coTiles * L.colTiles} tiles × ${t.splits} splits, ${L.sharedBytes} B shared`,
    run(rt, x, gy, _epilogue, out) {
      const kernel = rt.kernel(key, () => wgradSource(g, t), 3);
      withSplitK(rt, t.splits, o, out, noEpilogue, [], (dst) => rt.dispatch(kernel, [x, gy, dst], null, [L.coTiles * L.colTiles, t.splits]), 'split-K partial weight gradients');
    },
  };
}
