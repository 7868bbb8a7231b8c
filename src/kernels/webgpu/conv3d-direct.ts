/**
 * The direct (halo-tiled) implicit-GEMM convolution kernel, used for conv3d's forward and, one dispatch per
 * stride phase, for its gradient w.r.t. the input.
 *
 * GEMM view: M = output voxels, N = output channels, K = input channels × taps. A workgroup owns a block of
 * BD×BH×BW output voxels of one sample and BN = TN·CG output channels. Instead of gathering the im2col
 * matrix (27 loads per input voxel for a 3³ kernel), each K chunk of CC input channels stages the block's
 * input *halo* (the input box every output voxel of the block reads, zero outside the volume) and the CC×taps×BN
 * weights in workgroup memory; the im2col row of output voxel v for tap t is then the halo element at a fixed
 * offset, hb(v) + off(t). So the gather costs about one global load per input voxel per chunk (≈2× for a 3³
 * kernel on 1024-voxel blocks) and the inner loop is pure workgroup-memory reads and FMAs.
 *
 * Register blocking: every invocation accumulates TM voxels × TN channels (TN/4 vec4 accumulators per voxel).
 * Its voxels are interleaved (v = tv + i·VT) so that neighbouring lanes read neighbouring halo words (no bank
 * conflicts for stride 1) and write neighbouring output words; its channels are contiguous so that the
 * weights are read as vec4 broadcasts (every lane of a warp shares them). Per (channel, tap) an invocation
 * does TM + TN/4 workgroup loads for TM·TN FMAs. The w-axis taps are unrolled, the d/h taps and channels
 * loop.
 *
 * Every size, tap offset and stride is a WGSL constant (the pipeline is specialised per shape), so the
 * index arithmetic of the staging loops divides by constants only. Each axis is described by a list of taps
 * in arithmetic progression (weight index w0 + q·wStep, input offset off0 + q·offStep relative to the
 * voxel's origin o·inStride + inBase), which expresses both the forward (taps 0…k−1 at q·dil) and a stride
 * phase of the input gradient (only the taps that hit that phase, at offsets (r + p − t·dil)/s).
 *
 * Split-K: when the grid has few workgroups (deep layers: 7×7×5 voxels, 256 channels), grid z also splits
 * the input channels; each split writes its own copy of the output and a small pass sums them (and adds
 * the bias).
 */

export interface DirectAxis {
  /** size of the grid of output voxels this dispatch computes along the axis */
  out: number;
  /** where grid coordinate o lands in the output tensor: o·outStride + outPhase, of outFull */
  outStride: number;
  outPhase: number;
  outFull: number;
  /** input extent along the axis, and the origin o·inStride + inBase of voxel o's receptive field */
  inSize: number;
  inStride: number;
  inBase: number;
  /** taps along the axis: weight index w0 + q·wStep and input offset off0 + q·offStep, q < taps */
  taps: number;
  w0: number;
  wStep: number;
  off0: number;
  offStep: number;
  /** kernel extent along this axis in the weight tensor */
  k: number;
}

export interface DirectProblem {
  n: number;
  /** channels read (conv input channels for the forward, output-gradient channels for backward-input) */
  cin: number;
  /** channels written */
  cout: number;
  axes: [DirectAxis, DirectAxis, DirectAxis];
  /** element strides of the weight tensor for a written channel and a read channel */
  wOut: number;
  wIn: number;
  bias: boolean;
}

export interface DirectTiles {
  /** voxels per invocation */
  tm: number;
  /** channels per invocation (a multiple of 4) */
  tn: number;
  /** channel groups per workgroup: BN = tn·cg */
  cg: number;
  block: [number, number, number];
  /** input channels staged per K chunk */
  cc: number;
  /** K splits (grid z); > 1 writes partial outputs summed by a second pass */
  splits: number;
  /** input channels per split (a multiple of cc) */
  perSplit: number;
}

export interface DirectLayout {
  bv: number;
  vt: number;
  threads: number;
  halo: [number, number, number];
  minOff: [number, number, number];
  nb: [number, number, number];
  blocks: number;
  coTiles: number;
  taps: number;
  sharedBytes: number;
}

export function directLayout(p: DirectProblem, t: DirectTiles): DirectLayout {
  const bv = t.block[0] * t.block[1] * t.block[2];
  const vt = Math.ceil(bv / t.tm);
  const minOff = p.axes.map((a) => (a.taps === 0 ? 0 : Math.min(a.off0, a.off0 + (a.taps - 1) * a.offStep))) as [number, number, number];
  const halo = p.axes.map((a, i) => (a.taps === 0 ? 0 : (t.block[i] - 1) * a.inStride + Math.abs(a.offStep) * (a.taps - 1) + 1)) as [number, number, number];
  const nb = p.axes.map((a, i) => Math.ceil(a.out / t.block[i])) as [number, number, number];
  const taps = p.axes[0].taps * p.axes[1].taps * p.axes[2].taps;
  const bn = t.tn * t.cg;
  const sharedBytes = taps === 0 ? 0 : 4 * t.cc * (halo[0] * halo[1] * halo[2] + taps * bn);
  return {
    bv, vt, threads: vt * t.cg, halo, minOff, nb, blocks: p.n * nb[0] * nb[1] * nb[2],
    coTiles: Math.ceil(p.cout / bn), taps, sharedBytes,
  };
}

/** WGSL source of one direct convolution pipeline. Bindings: x, w, [bias], out. */
export function directSource(p: DirectProblem, t: DirectTiles): string {
  const L = directLayout(p, t);
  const [ad, ah, aw] = p.axes;
  const [BD, BH, BW] = t.block;
  const [ED, EH, EW] = L.halo;
  const HALO = ED * EH * EW;
  const TN4 = t.tn / 4, BN = t.tn * t.cg, BN4 = BN / 4;
  const fused = p.bias && t.splits === 1;
  const outVox = ad.outFull * ah.outFull * aw.outFull;
  const inVox = ad.inSize * ah.inSize * aw.inSize;
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };

  emit(`@group(0) @binding(0) var<storage, read> X: array<f32>;`);
  emit(`@group(0) @binding(1) var<storage, read> Wt: array<f32>;`);
  if (fused) emit(`@group(0) @binding(2) var<storage, read> Bias: array<f32>;`);
  emit(`@group(0) @binding(${fused ? 3 : 2}) var<storage, read_write> Y: array<f32>;`);
  if (L.taps > 0) {
    emit(`var<workgroup> xs: array<f32, ${t.cc * HALO}>;`);
    emit(`var<workgroup> ws: array<vec4<f32>, ${t.cc * L.taps * BN4}>;`);
  }
  emit(`@compute @workgroup_size(${L.threads})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  emit(`  let blk = wg.x + wg.y * nwg.x;`);
  emit(`  if (blk >= ${L.blocks}u) { return; }`);
  emit(`  let bw = blk % ${L.nb[2]}u; let bh = (blk / ${L.nb[2]}u) % ${L.nb[1]}u;`);
  emit(`  let bd = (blk / ${L.nb[2] * L.nb[1]}u) % ${L.nb[0]}u; let n = blk / ${L.nb[2] * L.nb[1] * L.nb[0]}u;`);
  emit(`  let coTile = wg.z % ${L.coTiles}u; let split = wg.z / ${L.coTiles}u;`);
  emit(`  let coBase = coTile * ${BN}u;`);
  emit(`  let tv = tid % ${L.vt}u; let cg = tid / ${L.vt}u;`);
  // per-voxel precomputation: halo base address, validity, output address
  for (let i = 0; i < t.tm; i++) {
    emit(`  let v${i} = tv + ${i * L.vt}u;`);
    emit(`  let vd${i} = v${i} / ${BH * BW}u; let vh${i} = (v${i} / ${BW}u) % ${BH}u; let vw${i} = v${i} % ${BW}u;`);
    emit(`  let od${i} = bd * ${BD}u + vd${i}; let oh${i} = bh * ${BH}u + vh${i}; let ow${i} = bw * ${BW}u + vw${i};`);
    emit(`  let ok${i} = v${i} < ${L.bv}u && od${i} < ${ad.out}u && oh${i} < ${ah.out}u && ow${i} < ${aw.out}u;`);
    emit(`  let ob${i} = ((od${i} * ${ad.outStride}u + ${ad.outPhase}u) * ${ah.outFull}u + oh${i} * ${ah.outStride}u + ${ah.outPhase}u) * ${aw.outFull}u + ow${i} * ${aw.outStride}u + ${aw.outPhase}u;`);
    if (L.taps > 0) {
      emit(`  let hb${i} = select(0u, (vd${i} * ${ad.inStride * EH}u + vh${i} * ${ah.inStride}u) * ${EW}u + vw${i} * ${aw.inStride}u, v${i} < ${L.bv}u);`);
    }
    for (let j = 0; j < TN4; j++) emit(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  }
  if (L.taps > 0) {
    const perSplit = t.perSplit;
    // halo origin in input coordinates
    emit(`  let orgD = i32(bd * ${BD * ad.inStride}u) + ${ad.inBase + L.minOff[0]};`);
    emit(`  let orgH = i32(bh * ${BH * ah.inStride}u) + ${ah.inBase + L.minOff[1]};`);
    emit(`  let orgW = i32(bw * ${BW * aw.inStride}u) + ${aw.inBase + L.minOff[2]};`);
    emit(`  let ciStart = split * ${perSplit}u;`);
    emit(`  let ciEnd = min(${p.cin}u, ciStart + ${perSplit}u);`);
    emit(`  let xn = n * ${p.cin * inVox}u;`);
    emit(`  for (var c0 = ciStart; c0 < ciEnd; c0 += ${t.cc}u) {`);
    // stage the input halo
    emit(`    for (var e = tid; e < ${t.cc * HALO}u; e += ${L.threads}u) {`);
    emit(`      let cl = e / ${HALO}u; let r = e % ${HALO}u;`);
    emit(`      let id = orgD + i32(r / ${EH * EW}u); let ih = orgH + i32((r / ${EW}u) % ${EH}u); let iw = orgW + i32(r % ${EW}u);`);
    emit(`      let ci = c0 + cl;`);
    emit(`      var val = 0.0;`);
    emit(`      if (ci < ciEnd && u32(id) < ${ad.inSize}u && u32(ih) < ${ah.inSize}u && u32(iw) < ${aw.inSize}u) {`);
    emit(`        val = X[xn + ci * ${inVox}u + (u32(id) * ${ah.inSize}u + u32(ih)) * ${aw.inSize}u + u32(iw)];`);
    emit(`      }`);
    emit(`      xs[e] = val;`);
    emit(`    }`);
    // stage the weights: ws[(cl·T + tap)·BN4 + col4] holds 4 consecutive written channels
    const T = L.taps, NTH = ah.taps, NTW = aw.taps;
    emit(`    for (var e = tid; e < ${t.cc * T * BN4}u; e += ${L.threads}u) {`);
    emit(`      let col4 = e % ${BN4}u; let rt = e / ${BN4}u; let tap = rt % ${T}u; let cl = rt / ${T}u;`);
    emit(`      let td = tap / ${NTH * NTW}u; let th = (tap / ${NTW}u) % ${NTH}u; let tw = tap % ${NTW}u;`);
    emit(`      let widx = (${ad.w0} + i32(td) * ${ad.wStep}) * ${ah.k * aw.k} + (${ah.w0} + i32(th) * ${ah.wStep}) * ${aw.k} + ${aw.w0} + i32(tw) * ${aw.wStep};`);
    emit(`      let ci = c0 + cl;`);
    emit(`      var val = vec4<f32>(0.0);`);
    emit(`      if (ci < ciEnd) {`);
    emit(`        let co = coBase + col4 * 4u;`);
    emit(`        let wb = ci * ${p.wIn}u + u32(widx);`);
    for (let c = 0; c < 4; c++) {
      emit(`        if (co + ${c}u < ${p.cout}u) { val[${c}] = Wt[(co + ${c}u) * ${p.wOut}u + wb]; }`);
    }
    emit(`      }`);
    emit(`      ws[e] = val;`);
    emit(`    }`);
    emit(`    workgroupBarrier();`);
    // compute
    const relD = ad.off0 - L.minOff[0], relH = ah.off0 - L.minOff[1], relW = aw.off0 - L.minOff[2];
    emit(`    let ccN = min(${t.cc}u, ciEnd - c0);`);
    emit(`    for (var cl = 0u; cl < ccN; cl++) {`);
    emit(`      for (var td = 0u; td < ${ad.taps}u; td++) {`);
    emit(`        let rowD = cl * ${HALO}u + u32(${relD} + i32(td) * ${ad.offStep}) * ${EH * EW}u;`);
    emit(`        for (var th = 0u; th < ${ah.taps}u; th++) {`);
    emit(`          let row = rowD + u32(${relH} + i32(th) * ${ah.offStep}) * ${EW}u;`);
    emit(`          let wrow = ((cl * ${ad.taps}u + td) * ${ah.taps}u + th) * ${aw.taps * BN4}u + cg * ${TN4}u;`);
    for (let tw = 0; tw < aw.taps; tw++) {
      const off = relW + tw * aw.offStep;
      for (let j = 0; j < TN4; j++) emit(`          let w${tw}_${j} = ws[wrow + ${tw * BN4 + j}u];`);
      for (let i = 0; i < t.tm; i++) {
        emit(`          let x${tw}_${i} = xs[hb${i} + row + ${off}u];`);
        for (let j = 0; j < TN4; j++) emit(`          acc${i}_${j} += x${tw}_${i} * w${tw}_${j};`);
      }
    }
    emit(`        }`);
    emit(`      }`);
    emit(`    }`);
    emit(`    workgroupBarrier();`);
    emit(`  }`);
  }
  if (L.taps === 0) emit(`  _ = X[0]; _ = Wt[0];`); // no tap reaches this phase: zeros, but keep the bindings
  // write out
  const partOff = t.splits > 1 ? `split * ${p.n * p.cout * outVox}u + ` : '';
  for (let j = 0; j < TN4; j++) {
    for (let c = 0; c < 4; c++) {
      const col = `coBase + cg * ${t.tn}u + ${4 * j + c}u`;
      emit(`  { let co = ${col};`);
      emit(`    if (co < ${p.cout}u) {`);
      emit(`      let cb = ${partOff}(n * ${p.cout}u + co) * ${outVox}u;`);
      if (fused) emit(`      let b = Bias[co];`);
      for (let i = 0; i < t.tm; i++) {
        emit(`      if (ok${i}) { Y[cb + ob${i}] = acc${i}_${j}[${c}]${fused ? ' + b' : ''}; }`);
      }
      emit(`    }`);
      emit(`  }`);
    }
  }
  emit(`}`);
  return lines.join('\n');
}
