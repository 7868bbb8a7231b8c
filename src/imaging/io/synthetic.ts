/**
 * A synthetic, LA-like segmentation data set: the default on a machine without the real data.
 *
 * Every case is a pure function of (seed, case index, shape): case i is generated from its own
 * PRNG seeded with hashSeed('synthetic', seed, i), so loading order and caching never change a
 * case. A case is made in these steps:
 *
 * 1. Geometry (the label): a body = union of 2–3 ellipsoids (one main, 1–2 smaller ones touching
 *    it) whose surface is perturbed by a low-frequency radial wobble, plus 2–4 tubular branches
 *    ("pulmonary veins"): quadratic Bézier centre lines leaving the body, radius shrinking linearly
 *    along the tube. The label is the exact voxel-centre membership test {@link insideGeometry}.
 *    If the foreground ratio falls outside [minForeground, maxForeground] (default 5–20 %) the
 *    geometry is redrawn from the same stream (deterministic).
 * 2. Ideal intensities: foreground ≈ 1; background = 0.25 plus 3–6 smooth Gaussian "distractor"
 *    blobs of intensity 0.2–0.7 (other bright structures), so thresholding alone is not enough.
 * 3. Partial-volume blur: separable Gaussian, σ = 0.8 voxel, 5 taps, edges replicated.
 * 4. Multiplicative bias field exp(Σ_j a_j cos(2π f_j·p + φ_j)) with 3 low-frequency waves.
 * 5. Additive Gaussian noise, σ ∈ [0.1, 0.2].
 * 6. z-score over the whole volume (as LA's images are).
 *
 * (Blur is applied before bias and noise, the physical order: the point-spread function acts on
 * the object, the coil sensitivity multiplies the blurred signal, and noise is added last.)
 */

import { Lru } from './lru.js';
import { Rng, hashSeed } from '../random.js';
import type { Case, CaseSource, Shape3, SourceDescription, Volume } from '../volume.js';

export interface SyntheticOptions {
  /** Training cases (ids syn-000 …). Default 16. */
  count?: number;
  /** Test cases, numbered after the training cases. Default 4. */
  testCount?: number;
  /** Volume shape [X, Y, Z]. Default [40, 40, 32]. */
  shape?: Shape3;
  /** Data set seed. Default 0. */
  seed?: number;
  /** Accepted foreground ratio range. Default [0.05, 0.2]. */
  foregroundRange?: [number, number];
  /** Generated cases kept in memory (LRU). Default 32. */
  cacheSize?: number;
}

export interface Ellipsoid {
  center: Shape3;
  radii: Shape3;
}

export interface Tube {
  /** Bézier control points of the centre line. */
  p0: Shape3;
  p1: Shape3;
  p2: Shape3;
  /** Radius at the start (t = 0) and at the end (t = 1). */
  r0: number;
  r1: number;
}

export interface Wobble {
  amp: number;
  /** Frequency vector applied to the unit direction from the body centre. */
  freq: Shape3;
  phase: number;
}

/** The generator's description of a case's foreground. */
export interface SyntheticGeometry {
  shape: Shape3;
  center: Shape3;
  ellipsoids: Ellipsoid[];
  wobble: Wobble[];
  tubes: Tube[];
  /** Centre-line samples per tube used by the membership test. */
  tubeSegments: number;
}

const TUBE_SEGMENTS = 16;

function v3(a: number, b: number, c: number): Shape3 {
  return [a, b, c];
}

function randomUnit(rng: Rng): Shape3 {
  for (;;) {
    const x = rng.uniform(-1, 1);
    const y = rng.uniform(-1, 1);
    const z = rng.uniform(-1, 1);
    const n = Math.hypot(x, y, z);
    if (n > 1e-3 && n <= 1) return v3(x / n, y / n, z / n);
  }
}

/** Draws one geometry from `rng` (no foreground-ratio check). */
function drawGeometry(rng: Rng, shape: Shape3): SyntheticGeometry {
  const [X, Y, Z] = shape;
  const m = Math.min(X, Y, Z);
  const center = v3(X / 2 + rng.uniform(-0.06, 0.06) * X, Y / 2 + rng.uniform(-0.06, 0.06) * Y, Z / 2 + rng.uniform(-0.05, 0.05) * Z);
  const main: Ellipsoid = {
    center,
    radii: v3(rng.uniform(0.21, 0.29) * X, rng.uniform(0.21, 0.29) * Y, rng.uniform(0.22, 0.3) * Z),
  };
  const ellipsoids: Ellipsoid[] = [main];
  const extra = 1 + rng.int(2);
  for (let i = 0; i < extra; i++) {
    const d = randomUnit(rng);
    const off = rng.uniform(0.45, 0.75);
    ellipsoids.push({
      center: v3(center[0] + d[0] * main.radii[0] * off, center[1] + d[1] * main.radii[1] * off, center[2] + d[2] * main.radii[2] * off),
      radii: v3(rng.uniform(0.12, 0.19) * X, rng.uniform(0.12, 0.19) * Y, rng.uniform(0.12, 0.2) * Z),
    });
  }
  const wobble: Wobble[] = [];
  for (let j = 0; j < 3; j++) {
    const f = randomUnit(rng);
    const k = rng.uniform(1.5, 3.5);
    wobble.push({ amp: rng.uniform(0.02, 0.08), freq: v3(f[0] * k, f[1] * k, f[2] * k), phase: rng.uniform(0, 2 * Math.PI) });
  }
  const tubes: Tube[] = [];
  const nTubes = 2 + rng.int(3);
  const phase0 = rng.uniform(0, 2 * Math.PI);
  for (let t = 0; t < nTubes; t++) {
    const az = phase0 + (2 * Math.PI * t) / nTubes + rng.uniform(-0.35, 0.35);
    const el = rng.uniform(-0.5, 0.5);
    const d = v3(Math.cos(el) * Math.cos(az), Math.cos(el) * Math.sin(az), Math.sin(el));
    const startFrac = 0.55;
    const p0 = v3(
      center[0] + d[0] * main.radii[0] * startFrac,
      center[1] + d[1] * main.radii[1] * startFrac,
      center[2] + d[2] * main.radii[2] * startFrac,
    );
    const len = rng.uniform(0.32, 0.45) * Math.hypot(X * d[0], Y * d[1], Z * d[2]);
    const p2 = v3(p0[0] + d[0] * len, p0[1] + d[1] * len, p0[2] + d[2] * len);
    const bend = randomUnit(rng);
    const bendAmt = rng.uniform(0.05, 0.2) * len;
    const p1 = v3(
      (p0[0] + p2[0]) / 2 + bend[0] * bendAmt,
      (p0[1] + p2[1]) / 2 + bend[1] * bendAmt,
      (p0[2] + p2[2]) / 2 + bend[2] * bendAmt,
    );
    const r0 = rng.uniform(0.065, 0.095) * m;
    const r1 = rng.uniform(0.035, 0.06) * m;
    tubes.push({ p0, p1, p2, r0, r1 });
  }
  return { shape: [X, Y, Z], center, ellipsoids, wobble, tubes, tubeSegments: TUBE_SEGMENTS };
}

function bezier(t: Tube, s: number): Shape3 {
  const a = (1 - s) * (1 - s);
  const b = 2 * (1 - s) * s;
  const c = s * s;
  return v3(a * t.p0[0] + b * t.p1[0] + c * t.p2[0], a * t.p0[1] + b * t.p1[1] + c * t.p2[1], a * t.p0[2] + b * t.p1[2] + c * t.p2[2]);
}

/** Precomputed centre-line polylines, cached per geometry object. */
const polylineCache = new WeakMap<SyntheticGeometry, Shape3[][]>();

function polylines(g: SyntheticGeometry): Shape3[][] {
  let p = polylineCache.get(g);
  if (!p) {
    p = g.tubes.map((t) => Array.from({ length: g.tubeSegments + 1 }, (_, i) => bezier(t, i / g.tubeSegments)));
    polylineCache.set(g, p);
  }
  return p;
}

/** True when the voxel centre (x, y, z) lies inside the geometry's body or one of its tubes. */
export function insideGeometry(g: SyntheticGeometry, x: number, y: number, z: number): boolean {
  // body: normalized distance to the nearest ellipsoid, against 1 + wobble(direction)
  const dx = x - g.center[0];
  const dy = y - g.center[1];
  const dz = z - g.center[2];
  const n = Math.hypot(dx, dy, dz) || 1;
  let w = 1;
  for (const wb of g.wobble) w += wb.amp * Math.sin((wb.freq[0] * dx + wb.freq[1] * dy + wb.freq[2] * dz) / n + wb.phase);
  for (const e of g.ellipsoids) {
    const ex = (x - e.center[0]) / e.radii[0];
    const ey = (y - e.center[1]) / e.radii[1];
    const ez = (z - e.center[2]) / e.radii[2];
    if (Math.sqrt(ex * ex + ey * ey + ez * ez) < w) return true;
  }
  // tubes: distance to the polyline, against the radius interpolated at the closest point
  const lines = polylines(g);
  for (let ti = 0; ti < g.tubes.length; ti++) {
    const tube = g.tubes[ti]!;
    const pts = lines[ti]!;
    const S = pts.length - 1;
    for (let i = 0; i < S; i++) {
      const a = pts[i]!;
      const b = pts[i + 1]!;
      const abx = b[0] - a[0];
      const aby = b[1] - a[1];
      const abz = b[2] - a[2];
      const l2 = abx * abx + aby * aby + abz * abz;
      let s = l2 > 0 ? ((x - a[0]) * abx + (y - a[1]) * aby + (z - a[2]) * abz) / l2 : 0;
      s = s < 0 ? 0 : s > 1 ? 1 : s;
      const px = a[0] + s * abx - x;
      const py = a[1] + s * aby - y;
      const pz = a[2] + s * abz - z;
      const t = (i + s) / S;
      const r = tube.r0 + (tube.r1 - tube.r0) * t;
      if (px * px + py * py + pz * pz < r * r) return true;
    }
  }
  return false;
}

/** The label of a geometry: 1 at voxel centres inside it. */
export function rasterizeGeometry(g: SyntheticGeometry): Volume<Uint8Array> {
  const [X, Y, Z] = g.shape;
  const data = new Uint8Array(X * Y * Z);
  let i = 0;
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) data[i++] = insideGeometry(g, x, y, z) ? 1 : 0;
  return { data, shape: [X, Y, Z] };
}

/** Separable Gaussian blur with replicated edges, in place. */
function blur3(data: Float32Array, shape: Shape3, sigma: number): void {
  const rad = Math.max(1, Math.ceil(2.5 * sigma));
  const k: number[] = [];
  let sum = 0;
  for (let i = -rad; i <= rad; i++) {
    const w = Math.exp((-i * i) / (2 * sigma * sigma));
    k.push(w);
    sum += w;
  }
  const kern = k.map((w) => w / sum);
  const [X, Y, Z] = shape;
  const strides = [Y * Z, Z, 1];
  const tmp = new Float32Array(data.length);
  for (let axis = 0; axis < 3; axis++) {
    const L = shape[axis]!;
    const st = strides[axis]!;
    tmp.set(data);
    for (let x = 0; x < X; x++) {
      for (let y = 0; y < Y; y++) {
        for (let z = 0; z < Z; z++) {
          const pos = axis === 0 ? x : axis === 1 ? y : z;
          const base = (x * Y + y) * Z + z - pos * st;
          let acc = 0;
          for (let j = -rad; j <= rad; j++) {
            let q = pos + j;
            q = q < 0 ? 0 : q >= L ? L - 1 : q;
            acc += kern[j + rad]! * tmp[base + q * st]!;
          }
          data[(x * Y + y) * Z + z] = acc;
        }
      }
    }
  }
}

export interface SyntheticCaseResult {
  case: Case;
  geometry: SyntheticGeometry;
  /** Geometry draws rejected for their foreground ratio before this one was accepted. */
  rejected: number;
}

/** Generates case `index` of a data set with this `seed` and `shape`. */
export function generateSyntheticCase(
  id: string,
  index: number,
  opts: { seed?: number; shape?: Shape3; foregroundRange?: [number, number] } = {},
): SyntheticCaseResult {
  const shape: Shape3 = opts.shape ? [opts.shape[0], opts.shape[1], opts.shape[2]] : [40, 40, 32];
  if (!shape.every((s) => Number.isInteger(s) && s >= 8)) throw new Error(`synthetic: shape must be integers >= 8, got ${JSON.stringify(shape)}`);
  const [lo, hi] = opts.foregroundRange ?? [0.05, 0.2];
  const rng = new Rng(hashSeed('synthetic', opts.seed ?? 0, index));
  const [X, Y, Z] = shape;
  const n = X * Y * Z;

  let geometry = drawGeometry(rng, shape);
  let label = rasterizeGeometry(geometry);
  let rejected = 0;
  for (;;) {
    let fg = 0;
    for (let i = 0; i < n; i++) fg += label.data[i]!;
    const r = fg / n;
    if (r >= lo && r <= hi) break;
    if (++rejected > 200) throw new Error(`synthetic: no geometry with foreground ratio in [${lo}, ${hi}] for shape [${shape.join(', ')}]`);
    geometry = drawGeometry(rng, shape);
    label = rasterizeGeometry(geometry);
  }

  // ideal intensities
  const img = new Float32Array(n);
  const fgLevel = rng.uniform(0.9, 1.1);
  const bgLevel = rng.uniform(0.2, 0.3);
  const blobs = Array.from({ length: 3 + rng.int(4) }, () => ({
    c: v3(rng.uniform(0, X), rng.uniform(0, Y), rng.uniform(0, Z)),
    s: rng.uniform(0.06, 0.15) * Math.min(X, Y, Z),
    a: rng.uniform(0.2, 0.7),
  }));
  let i = 0;
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++, i++) {
        if (label.data[i]) {
          img[i] = fgLevel;
          continue;
        }
        let v = bgLevel;
        for (const b of blobs) {
          const d2 = (x - b.c[0]) ** 2 + (y - b.c[1]) ** 2 + (z - b.c[2]) ** 2;
          v += b.a * Math.exp(-d2 / (2 * b.s * b.s));
        }
        img[i] = Math.min(v, 0.85);
      }
    }
  }
  // partial-volume blur
  blur3(img, shape, 0.8);
  // bias field and noise
  const waves = Array.from({ length: 3 }, () => {
    const d = randomUnit(rng);
    const f = rng.uniform(0.2, 0.6);
    return { a: rng.uniform(0.04, 0.12), f: v3(d[0] * f, d[1] * f, d[2] * f), ph: rng.uniform(0, 2 * Math.PI) };
  });
  const sigma = rng.uniform(0.1, 0.2);
  i = 0;
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++, i++) {
        let b = 0;
        for (const w of waves) b += w.a * Math.cos(2 * Math.PI * (w.f[0] * (x / X) + w.f[1] * (y / Y) + w.f[2] * (z / Z)) + w.ph);
        img[i] = img[i]! * Math.exp(b) + sigma * rng.normal();
      }
    }
  }
  // z-score
  let mean = 0;
  for (let j = 0; j < n; j++) mean += img[j]!;
  mean /= n;
  let varr = 0;
  for (let j = 0; j < n; j++) varr += (img[j]! - mean) ** 2;
  const std = Math.sqrt(varr / n) || 1;
  for (let j = 0; j < n; j++) img[j] = (img[j]! - mean) / std;

  return { case: { id, image: { data: img, shape: [X, Y, Z] }, label }, geometry, rejected };
}

/** Synthetic LA-like cases, ids `syn-000` …; train = the first `count`, test = the next `testCount`. */
export class SyntheticSource implements CaseSource {
  readonly name = 'synthetic';
  readonly shape: Shape3;
  readonly seed: number;
  readonly #train: string[];
  readonly #test: string[];
  readonly #index = new Map<string, number>();
  readonly #cache: Lru<Case>;
  readonly #range: [number, number];

  constructor(opts: SyntheticOptions = {}) {
    const count = opts.count ?? 16;
    const testCount = opts.testCount ?? 4;
    if (!Number.isInteger(count) || count < 0 || !Number.isInteger(testCount) || testCount < 0) {
      throw new Error(`SyntheticSource: count and testCount must be non-negative integers`);
    }
    this.shape = opts.shape ? [opts.shape[0], opts.shape[1], opts.shape[2]] : [40, 40, 32];
    this.seed = opts.seed ?? 0;
    this.#cache = new Lru(opts.cacheSize ?? 32);
    this.#range = opts.foregroundRange ?? [0.05, 0.2];
    const width = Math.max(3, String(count + testCount - 1).length);
    const ids = Array.from({ length: count + testCount }, (_, i) => `syn-${String(i).padStart(width, '0')}`);
    ids.forEach((id, i) => this.#index.set(id, i));
    this.#train = ids.slice(0, count);
    this.#test = ids.slice(count);
  }

  trainIds(): string[] {
    return [...this.#train];
  }

  testIds(): string[] {
    return [...this.#test];
  }

  /** The first n training ids (the labeled set, as on LA). */
  labeledIds(n: number): string[] {
    if (!Number.isInteger(n) || n < 0 || n > this.#train.length) throw new Error(`SyntheticSource: labeled count ${n} not in [0, ${this.#train.length}]`);
    return this.#train.slice(0, n);
  }

  /** The training ids after the first n (the unlabeled pool). */
  unlabeledIds(n: number): string[] {
    return this.#train.slice(this.labeledIds(n).length);
  }

  describe(): SourceDescription {
    return {
      kind: 'synthetic', count: this.#train.length, testCount: this.#test.length, shape: [...this.shape], seed: this.seed,
      foregroundRange: [this.#range[0], this.#range[1]],
    };
  }

  /** The generator's geometry of a case (for tests and visual checks). */
  geometry(id: string): SyntheticGeometry {
    return this.#generate(id).geometry;
  }

  #generate(id: string): SyntheticCaseResult {
    const index = this.#index.get(id);
    if (index === undefined) throw new Error(`SyntheticSource: unknown case id '${id}'`);
    return generateSyntheticCase(id, index, { seed: this.seed, shape: this.shape, foregroundRange: this.#range });
  }

  async load(id: string): Promise<Case> {
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const c = this.#generate(id).case;
    this.#cache.set(id, c);
    return c;
  }
}
