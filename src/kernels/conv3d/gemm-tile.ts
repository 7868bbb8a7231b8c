/**
 * WGSL pieces shared by the register-blocked GEMM kernels of the convolutions (up.ts, down.ts,
 * gemm.ts, wgemm.ts). Each kernel stages a K chunk of A in workgroup memory as `As` [k][m] (one f32
 * per element, row stride `aStride`) and
 * of B as `Bs` [k][n/4] vec4 (row stride `bStride` vec4), and keeps TM × TN/4 vec4 accumulators `acc{i}_{q}` per
 * invocation (tm = tid % (BM/TM) picks interleaved rows, tn = tid / (BM/TM) a column group). What differs between
 * them is how A is gathered and where C goes.
 */

import { epilogueBindings, epilogueChannel, epilogueDeclarations, epilogueStore, type Epilogue } from './plan.js';

type Emit = (line: string) => void;

export interface TileShape {
  bm: number;
  /** row stride of As in words (default BM; a pad where the loaders' stores would otherwise hit one bank) */
  aStride?: number;
  /** K elements per staged chunk */
  bk: number;
  tm: number;
  tn: number;
  /** row stride of Bs in vec4 (BN/4, plus a pad where the loaders' stores need one) */
  bStride: number;
}

export interface ConvGemmEntry {
  /** element type of the gathered source X (f32, vec2<f32>, vec4<f32>) */
  srcType: string;
  /** name of binding 1, B's source (default Wt: the weights) */
  bName?: string;
  /** bind the epilogue's operands (from binding 2 on), which the store applies */
  epilogue: Epilogue;
  threads: number;
  /** GEMM rows */
  rows: number;
  bn: number;
  /** column tiles: grid y = columnTiles × splits */
  columnTiles: number;
}

/**
 * Bindings X, Wt (or bName), [the epilogue's], Y, the staging arrays and the entry point of a GEMM whose grid x (and z past 65535)
 * counts row tiles and grid y column tiles × K splits; defines m0, n0, split, tm and tn.
 */
export function emitConvGemmEntry(emit: Emit, t: TileShape, o: ConvGemmEntry): void {
  emit(`@group(0) @binding(0) var<storage, read> X: array<${o.srcType}>;`);
  emit(`@group(0) @binding(1) var<storage, read> ${o.bName ?? 'Wt'}: array<f32>;`);
  for (const d of epilogueDeclarations(o.epilogue, 2)) emit(d);
  emit(`@group(0) @binding(${2 + epilogueBindings(o.epilogue)}) var<storage, read_write> Y: array<f32>;`);
  emit(`var<workgroup> As: array<f32, ${t.bk * (t.aStride ?? t.bm)}>;`);
  emit(`var<workgroup> Bs: array<vec4<f32>, ${t.bk * t.bStride}>;`);
  emit(`@compute @workgroup_size(${o.threads})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  emit(`  let mTile = wg.x + wg.z * nwg.x;`);
  emit(`  if (mTile * ${t.bm}u >= ${o.rows}u) { return; }`);
  emit(`  let m0 = mTile * ${t.bm}u;`);
  emit(`  let coTile = wg.y % ${o.columnTiles}u; let split = wg.y / ${o.columnTiles}u;`);
  emit(`  let n0 = coTile * ${o.bn}u;`);
  emit(`  let tm = tid % ${t.bm / t.tm}u; let tn = tid / ${t.bm / t.tm}u;`);
}

/** The TM × TN/4 vec4 accumulators, zeroed. */
export function emitAccumulators(emit: Emit, t: Pick<TileShape, 'tm' | 'tn'>): void {
  for (let i = 0; i < t.tm; i++) for (let q = 0; q < t.tn / 4; q++) emit(`  var acc${i}_${q} = vec4<f32>(0.0);`);
}

/**
 * After the chunk's loads: a barrier, then per k step TN/4 broadcast vec4 B loads and TM conflict-free A loads for
 * TM·TN FMAs, and a barrier before the next chunk overwrites the staging.
 */
export function emitTileProduct(emit: Emit, t: TileShape): void {
  const MT = t.bm / t.tm, TN4 = t.tn / 4;
  emit(`    workgroupBarrier();`);
  emit(`    for (var kk = 0u; kk < ${t.bk}u; kk++) {`);
  for (let q = 0; q < TN4; q++) emit(`      let b${q} = Bs[kk * ${t.bStride}u + tn * ${TN4}u + ${q}u];`);
  for (let i = 0; i < t.tm; i++) {
    emit(`      let a${i} = As[kk * ${t.aStride ?? t.bm}u + tm + ${i * MT}u];`);
    for (let q = 0; q < TN4; q++) emit(`      acc${i}_${q} += a${i} * b${q};`);
  }
  emit(`    }`);
  emit(`    workgroupBarrier();`);
}

export interface ChannelMajorStore {
  /** GEMM rows: batch × voxels of the output */
  rows: number;
  /** GEMM columns: output channels */
  channels: number;
  /** output voxels per (sample, channel) */
  voxels: number;
  /** each split writes its own copy of the output (summed by a second pass) */
  splitCopies: boolean;
  /** applied to each sum (its operands bound by emitConvGemmEntry) */
  epilogue: Epilogue;
}

/**
 * Writes the accumulators to `Y` laid out [n, channel, voxel]: row m = (n, v) of the GEMM, column = channel;
 * neighbouring lanes hold neighbouring rows, so each channel's stores are coalesced. Expects `m0`, `n0`, `tm`,
 * `tn` (and `split` with splitCopies) in scope.
 */
export function emitChannelMajorStore(emit: Emit, t: TileShape, o: ChannelMajorStore): void {
  const MT = t.bm / t.tm, TN4 = t.tn / 4;
  const partOff = o.splitCopies ? `split * ${o.rows * o.channels}u + ` : '';
  for (let i = 0; i < t.tm; i++) {
    emit(`  let row${i} = m0 + tm + ${i * MT}u;`);
    emit(`  let ob${i} = ${partOff}(row${i} / ${o.voxels}u) * ${o.channels * o.voxels}u + row${i} % ${o.voxels}u;`);
  }
  for (let q = 0; q < TN4; q++) {
    for (let c = 0; c < 4; c++) {
      emit(`  { let co = n0 + tn * ${t.tn}u + ${4 * q + c}u;`);
      emit(`    if (co < ${o.channels}u) {`);
      for (const line of epilogueChannel(o.epilogue, 'co')) emit(`      ${line}`);
      for (let i = 0; i < t.tm; i++) emit(`      if (row${i} < ${o.rows}u) { ${epilogueStore(o.epilogue, `Y[ob${i} + co * ${o.voxels}u]`, `acc${i}_${q}[${c}]`)} }`);
      emit(`    }`);
      emit(`  }`);
    }
  }
}
