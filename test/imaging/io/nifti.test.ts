import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeNifti, parseNifti, readNifti, readNiftiSync, writeNifti } from '../../../src/imaging/io/nifti.js';
import type { Shape3, Volume } from '../../../src/imaging/volume.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-nifti-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** value(x, y, z) = x + 10 y + 100 z, in our C order. */
function coded(shape: Shape3): Volume<Float32Array> {
  const [X, Y, Z] = shape;
  const d = new Float32Array(X * Y * Z);
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) d[(x * Y + y) * Z + z] = x + 10 * y + 100 * z;
  return { data: d, shape };
}

// rotation about z by 30°, voxel sizes (0.8, 1.2, 2.5), a flipped x axis (det < 0 → qfac handling) and an offset
const c30 = Math.cos(Math.PI / 6);
const s30 = Math.sin(Math.PI / 6);
const AFFINE = [
  [-0.8 * c30, -1.2 * s30, 0, 10],
  [-0.8 * s30, 1.2 * c30, 0, -20.5],
  [0, 0, 2.5, 7],
  [0, 0, 0, 1],
];

function expectAffine(a: number[][], b: number[][], tol = 1e-5): void {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(Math.abs(a[r]![c]! - b[r]![c]!)).toBeLessThan(tol);
}

describe('NIfTI write → read round trip', () => {
  for (const datatype of ['uint8', 'float32'] as const) {
    for (const ext of ['.nii', '.nii.gz']) {
      it(`${datatype} ${ext}`, async () => {
        const shape: Shape3 = [5, 4, 3];
        const v = coded(shape);
        const vol: Volume<Float32Array | Uint8Array> = datatype === 'uint8' ? { data: Uint8Array.from(v.data), shape } : { data: Float32Array.from(v.data, (x) => x + 0.25), shape };
        const file = path.join(dir, `rt-${datatype}${ext}`);
        writeNifti(file, vol, { datatype, affine: AFFINE });
        const raw = readFileSync(file);
        expect(raw[0] === 0x1f && raw[1] === 0x8b).toBe(ext === '.nii.gz');
        const img = await readNifti(file);
        expect(img.volume.shape).toEqual(shape);
        expect(Array.from(img.volume.data)).toEqual(Array.from(vol.data));
        expect(img.info.datatype).toBe(datatype);
        expect(img.info.version).toBe(1);
        expect(img.info.affineSource).toBe('sform');
        expectAffine(img.info.affine, AFFINE);
        expect(img.info.pixdim.map((p) => Number(p.toFixed(5)))).toEqual([0.8, 1.2, 2.5]);
        const sync = readNiftiSync(file);
        expect(sync.volume.data).toEqual(img.volume.data);
      });
    }
  }

  it('without options the datatype is the data\'s own (uint8 labels, float32 images) and the affine the identity', async () => {
    const shape: Shape3 = [3, 2, 2];
    for (const [data, datatype] of [[Uint8Array.of(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2), 'uint8'], [Float32Array.from({ length: 12 }, (_, i) => i / 4), 'float32']] as const) {
      const file = path.join(dir, `default-${datatype}.nii.gz`);
      writeNifti(file, { data, shape });
      const img = await readNifti(file);
      expect(img.info.datatype).toBe(datatype);
      expect(Array.from(img.volume.data)).toEqual(Array.from(data));
      expectAffine(img.info.affine, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
    }
  });

  it('writes a standard NIfTI-1 header and x-fastest voxel order', () => {
    const shape: Shape3 = [3, 4, 2];
    const bytes = encodeNifti(coded(shape), { datatype: 'float32', affine: AFFINE });
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect(dv.getInt32(0, true)).toBe(348);
    expect(dv.getFloat32(108, true)).toBe(352);
    expect(Array.from(bytes.subarray(344, 348))).toEqual([0x6e, 0x2b, 0x31, 0x00]);
    expect(Array.from(bytes.subarray(348, 352))).toEqual([0, 0, 0, 0]);
    expect([0, 1, 2, 3, 4].map((i) => dv.getInt16(40 + 2 * i, true))).toEqual([3, 3, 4, 2, 1]);
    expect(dv.getInt16(70, true)).toBe(16);
    expect(dv.getInt16(72, true)).toBe(32);
    expect(dv.getFloat32(76, true)).toBe(-1); // qfac: the affine has det < 0
    expect(dv.getFloat32(80, true)).toBeCloseTo(0.8, 6);
    expect(dv.getFloat32(84, true)).toBeCloseTo(1.2, 6);
    expect(dv.getFloat32(88, true)).toBeCloseTo(2.5, 6);
    expect(dv.getInt16(254, true)).toBeGreaterThan(0); // sform_code
    expect(dv.getFloat32(280 + 3 * 4, true)).toBe(10); // srow_x[3]
    expect(bytes.length).toBe(352 + 3 * 4 * 2 * 4);
    // NIfTI order: offset = 352 + 4 (x + X (y + Y z))
    for (const [x, y, z] of [[0, 0, 0], [2, 0, 0], [0, 3, 0], [1, 2, 1], [2, 3, 1]] as const) {
      expect(dv.getFloat32(352 + 4 * (x + 3 * (y + 4 * z)), true)).toBe(x + 10 * y + 100 * z);
    }
  });

  it('falls back to the qform when sform_code = 0 (and it matches the affine)', () => {
    const bytes = encodeNifti(coded([3, 3, 3]), { datatype: 'float32', affine: AFFINE });
    new DataView(bytes.buffer, bytes.byteOffset).setInt16(254, 0, true);
    const img = parseNifti(bytes, 'mem.nii');
    expect(img.info.affineSource).toBe('qform');
    expectAffine(img.info.affine, AFFINE, 1e-4);
  });

  it('uses diag(pixdim) when neither form is set', () => {
    const bytes = encodeNifti(coded([3, 3, 3]), { datatype: 'uint8', affine: [[2, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 1]] });
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    dv.setInt16(252, 0, true);
    dv.setInt16(254, 0, true);
    const img = parseNifti(bytes, 'mem.nii');
    expect(img.info.affineSource).toBe('pixdim');
    expect(img.info.affine).toEqual([[2, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 1]]);
  });
});

/**
 * Tiny files written by nibabel 5.0 (python): data = arange(24).reshape(4, 3, 2) (C order),
 * affine [[0,-2,0,5],[1.5,0,0,-3],[0,0,3,1],[0,0,0,1]]; nb_i16: int16 with slope 0.5, inter 10;
 * nb2: Nifti2Image int32; nb_qonly: float32, sform_code 0, qform_code 1.
 */
const NIBABEL = {
  i16: 'H4sIAAAAAAAE/4thZCAKMDOwMDAzMDEwQiGqJhYGAbBAgz0DwwEgZnAAIiAG8ZHxBmegHFBMwRFIDwLABHfDZxZToLsWOADdfQDiZrAUkA0CIHGwv8A8iBooE+5PGB9C52kbQgXYGHgYhBiYGDgY+BhEgKHIBQwrMWAosjPwMggDw5STgZ9BlIGVgZtBkEGcAQAiSLywkAEAAA==',
  n2: 'H4sIAAAAAAACA5NhYmDI0zZi4OWS4uJgUGBgZoAAFigN4zNBaUYCNH7wwR5C/4DSDA4QisMBVR6TVmDCZs7gBkxYxM5Y16fNW/AM6n4RmP8P4PDXAVQuTP0PHP7nOIBD3IGScGMDYh4gFoL6iQOI+UCugaYTLiAWAGIxaDpgB2JeIBaGph9OIOYHYlEgZgVibiAWBGJxYCQCAFopPZCAAgAA',
  qonly: 'H4sIAAAAAAACA4thZCAKMDOwADETAyMUogIBBgUw3WDPwHAAiBkcgMgBwkfGG5wh9OAAyL74zGIKdNcCkLsPILnxAIQCiR9AcrfDASS2AzY/5WkbIvEOgMx1ZGCY4AgJGwYgnQDEC4C4AchXANFAvMERYtYDoFgAkD3DEWK+AJAuAOIVjhC3GADpDiDe4QgAONBQgsABAAA=',
};
const NIBABEL_AFFINE = [[0, -2, 0, 5], [1.5, 0, 0, -3], [0, 0, 3, 1], [0, 0, 0, 1]];

describe('files written by nibabel', () => {
  const cases = [
    ['i16', 1, 'int16', (i: number) => i * 0.5 + 10, 'sform'],
    ['n2', 2, 'int32', (i: number) => i, 'sform'],
    ['qonly', 1, 'float32', (i: number) => i, 'qform'],
  ] as const;
  for (const [key, version, datatype, value, source] of cases) {
    it(`${key}: NIfTI-${version} ${datatype}, ${source}`, async () => {
      const f = path.join(dir, `nibabel-${key}.nii.gz`);
      writeFileSync(f, Buffer.from(NIBABEL[key], 'base64'));
      const img = await readNifti(f);
      expect(img.info.version).toBe(version);
      expect(img.info.datatype).toBe(datatype);
      expect(img.info.affineSource).toBe(source);
      expect(img.volume.shape).toEqual([4, 3, 2]);
      // our C order equals numpy's C order of nibabel's array
      expect(Array.from(img.volume.data)).toEqual(Array.from({ length: 24 }, (_, i) => value(i)));
      expectAffine(img.info.affine, NIBABEL_AFFINE, 1e-6);
    });
  }
});

/** Hand-built NIfTI-1 (348 + 4 bytes header) with an arbitrary datatype. */
function nifti1(opts: { dims: number[]; datatype: number; bitpix: number; slope: number; inter: number; le: boolean; write: (dv: DataView, off: number) => void; nbytes: number }): Uint8Array {
  const buf = new Uint8Array(352 + opts.nbytes);
  const dv = new DataView(buf.buffer);
  const le = opts.le;
  dv.setInt32(0, 348, le);
  opts.dims.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
  dv.setInt16(70, opts.datatype, le);
  dv.setInt16(72, opts.bitpix, le);
  for (let i = 0; i < 8; i++) dv.setFloat32(76 + 4 * i, 1, le);
  dv.setFloat32(108, 352, le);
  dv.setFloat32(112, opts.slope, le);
  dv.setFloat32(116, opts.inter, le);
  buf.set([0x6e, 0x2b, 0x31, 0], 344);
  opts.write(dv, 352);
  return buf;
}

describe('NIfTI reader: datatypes, scaling, NIfTI-2', () => {
  it('int16 with scl_slope / scl_inter, little and big endian', () => {
    for (const le of [true, false]) {
      // shape [2, 3, 2]; disk value at f = x + 2 (y + 3 z) is f - 5
      const bytes = nifti1({
        dims: [3, 2, 3, 2, 1, 1, 1, 1],
        datatype: 4,
        bitpix: 16,
        slope: 2,
        inter: -1.5,
        le,
        nbytes: 24,
        write: (dv, off) => {
          for (let f = 0; f < 12; f++) dv.setInt16(off + 2 * f, f - 5, le);
        },
      });
      const img = parseNifti(bytes, 'int16.nii');
      expect(img.volume.shape).toEqual([2, 3, 2]);
      expect(img.info.datatype).toBe('int16');
      expect(img.info.littleEndian).toBe(le);
      for (let x = 0; x < 2; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 2; z++) {
        const f = x + 2 * (y + 3 * z);
        expect(img.volume.data[(x * 3 + y) * 2 + z]).toBe((f - 5) * 2 - 1.5);
      }
    }
  });

  it('scl_slope = 0 means no scaling; int32 and float64 are read', () => {
    const i32 = nifti1({ dims: [3, 2, 1, 1, 1, 1, 1, 1], datatype: 8, bitpix: 32, slope: 0, inter: 100, le: true, nbytes: 8, write: (dv, o) => { dv.setInt32(o, -7, true); dv.setInt32(o + 4, 123456, true); } });
    expect(Array.from(parseNifti(i32, 'a.nii').volume.data)).toEqual([-7, 123456]);
    const f64 = nifti1({ dims: [3, 1, 2, 1, 1, 1, 1, 1], datatype: 64, bitpix: 64, slope: 1, inter: 0, le: true, nbytes: 16, write: (dv, o) => { dv.setFloat64(o, 0.5, true); dv.setFloat64(o + 8, -2.25, true); } });
    const img = parseNifti(f64, 'b.nii');
    expect(img.info.datatype).toBe('float64');
    expect(Array.from(img.volume.data)).toEqual([0.5, -2.25]);
  });

  it('accepts a 4-D file with one volume, refuses a real 4-D series', () => {
    const one = nifti1({ dims: [4, 2, 1, 1, 1, 1, 1, 1], datatype: 2, bitpix: 8, slope: 0, inter: 0, le: true, nbytes: 2, write: (dv, o) => { dv.setUint8(o, 3); dv.setUint8(o + 1, 4); } });
    expect(parseNifti(one, 'one.nii').volume.shape).toEqual([2, 1, 1]);
    const two = nifti1({ dims: [4, 1, 1, 1, 2, 1, 1, 1], datatype: 2, bitpix: 8, slope: 0, inter: 0, le: true, nbytes: 2, write: () => {} });
    expect(() => parseNifti(two, 'two.nii')).toThrow(/two\.nii.*3-D/);
  });

  it('reads a hand-built NIfTI-2 header (int32 data, sform)', async () => {
    const [X, Y, Z] = [2, 3, 2];
    const buf = new Uint8Array(544 + X * Y * Z * 4);
    const dv = new DataView(buf.buffer);
    dv.setInt32(0, 540, true);
    buf.set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4); // "n+2\0\r\n\032\n"
    dv.setInt16(12, 8, true); // int32
    dv.setInt16(14, 32, true);
    [3, X, Y, Z, 1, 1, 1, 1].forEach((d, i) => dv.setBigInt64(16 + 8 * i, BigInt(d), true));
    [1, 1.5, 2, 3, 1, 1, 1, 1].forEach((p, i) => dv.setFloat64(104 + 8 * i, p, true));
    dv.setBigInt64(168, 544n, true); // vox_offset
    dv.setFloat64(176, 1, true); // scl_slope
    dv.setFloat64(184, 0, true);
    dv.setInt32(344, 0, true); // qform_code
    dv.setInt32(348, 1, true); // sform_code
    const srow = [[1.5, 0, 0, -3], [0, 2, 0, 4], [0, 0, 3, 5.5]];
    srow.forEach((row, r) => row.forEach((v, c) => dv.setFloat64(400 + (r * 4 + c) * 8, v, true)));
    for (let f = 0; f < X * Y * Z; f++) dv.setInt32(544 + 4 * f, 1000 + f, true);
    const file = path.join(dir, 'n2.nii.gz');
    writeFileSync(file, gzipSync(buf));
    const img = await readNifti(file);
    expect(img.info.version).toBe(2);
    expect(img.info.voxOffset).toBe(544);
    expect(img.volume.shape).toEqual([X, Y, Z]);
    expect(img.info.affine).toEqual([...srow, [0, 0, 0, 1]]);
    expect(img.info.pixdim).toEqual([1.5, 2, 3]);
    for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
      expect(img.volume.data[(x * Y + y) * Z + z]).toBe(1000 + x + X * (y + Y * z));
    }
  });
});

describe('NIfTI reader errors name the file', () => {
  it('missing file', async () => {
    const f = path.join(dir, 'nope.nii.gz');
    await expect(readNifti(f)).rejects.toThrow(f);
  });
  it('truncated image data', async () => {
    const bytes = encodeNifti(coded([4, 4, 4]), { datatype: 'float32' });
    const f = path.join(dir, 'trunc.nii');
    writeFileSync(f, bytes.subarray(0, bytes.length - 10));
    await expect(readNifti(f)).rejects.toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*truncated`));
  });
  it('truncated gzip stream', async () => {
    const gz = gzipSync(encodeNifti(coded([8, 8, 8]), { datatype: 'float32' }));
    const f = path.join(dir, 'trunc.nii.gz');
    writeFileSync(f, gz.subarray(0, gz.length >> 1));
    await expect(readNifti(f)).rejects.toThrow(f);
    expect(() => readNiftiSync(f)).toThrow(f);
  });
  it('corrupt gzip stream', async () => {
    const gz = Buffer.from(gzipSync(encodeNifti(coded([8, 8, 8]), { datatype: 'float32' })));
    for (let i = 20; i < 60; i++) gz[i] = 0xa5;
    const f = path.join(dir, 'corrupt.nii.gz');
    writeFileSync(f, gz);
    await expect(readNifti(f)).rejects.toThrow(new RegExp(`corrupt\\.nii\\.gz`));
  });
  it('not a NIfTI file / bad header fields', async () => {
    const f = path.join(dir, 'garbage.nii');
    writeFileSync(f, Buffer.alloc(400, 7));
    await expect(readNifti(f)).rejects.toThrow(/garbage\.nii.*not a NIfTI/);
    const bad = encodeNifti(coded([2, 2, 2]), { datatype: 'float32' });
    new DataView(bad.buffer).setInt16(70, 32, true); // complex64
    expect(() => parseNifti(bad, 'cplx.nii')).toThrow(/cplx\.nii.*datatype code 32/);
    const bp = encodeNifti(coded([2, 2, 2]), { datatype: 'float32' });
    new DataView(bp.buffer).setInt16(72, 16, true);
    expect(() => parseNifti(bp, 'bitpix.nii')).toThrow(/bitpix\.nii.*bitpix/);
    expect(() => parseNifti(new Uint8Array(2), 'tiny.nii')).toThrow(/tiny\.nii/);
  });
});
