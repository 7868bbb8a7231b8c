import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { affineToQuatern, encodeNifti, parseNifti, readNifti, readNiftiSync, writeNifti } from '../../../src/imaging/io/nifti.js';
import type { Shape3 } from '../../../src/imaging/volume.js';

/**
 * The NIfTI-1 reader and writer against the format's definition (nifti1.h): every datatype in both byte orders,
 * scl_slope / scl_inter, the header checks with their messages, the qform the writer derives from an affine
 * (nifti1_io's nifti_mat44_to_quatern), and the fields it writes.
 */

let dir = '';
beforeAll(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-nifti-mutants-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

interface Header {
  dims: number[];
  datatype: number;
  bitpix: number;
  le?: boolean;
  slope?: number;
  inter?: number;
  voxOffset?: number;
  pixdim?: number[];
  qformCode?: number;
  sformCode?: number;
  srow?: number[][];
  magic?: number[];
}

/** A NIfTI-1 single file: the header fields given (the rest zero), then `data` written by `write` at vox_offset. */
function nifti1(h: Header, dataBytes: number, write: (dv: DataView, at: number, le: boolean) => void = () => {}): Uint8Array {
  const le = h.le ?? true, vox = h.voxOffset ?? 352;
  const buf = new Uint8Array(Math.max(vox, 352) + dataBytes);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, 348, le);
  h.dims.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
  dv.setInt16(70, h.datatype, le);
  dv.setInt16(72, h.bitpix, le);
  (h.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1]).forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
  dv.setFloat32(108, vox, le);
  dv.setFloat32(112, h.slope ?? 0, le);
  dv.setFloat32(116, h.inter ?? 0, le);
  dv.setInt16(252, h.qformCode ?? 0, le);
  dv.setInt16(254, h.sformCode ?? 0, le);
  (h.srow ?? []).forEach((row, r) => row.forEach((v, c) => dv.setFloat32(280 + (r * 4 + c) * 4, v, le)));
  buf.set(h.magic ?? [0x6e, 0x2b, 0x31, 0], 344);
  write(dv, vox, le);
  return buf;
}

const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('NIfTI-1 datatypes, both byte orders', () => {
  // [code, bitpix, values, setter]: values that need the type's full range (sign bit, top bit)
  const cases: [number, string, number, number[], (dv: DataView, at: number, v: number, le: boolean) => void][] = [
    [2, 'uint8', 8, [0, 1, 127, 128, 255, 7], (dv, at, v) => dv.setUint8(at, v)],
    [256, 'int8', 8, [-128, -1, 0, 1, 127, 5], (dv, at, v) => dv.setInt8(at, v)],
    [4, 'int16', 16, [-32768, -1, 0, 256, 32767, 3], (dv, at, v, le) => dv.setInt16(at, v, le)],
    [512, 'uint16', 16, [0, 1, 256, 32768, 65535, 9], (dv, at, v, le) => dv.setUint16(at, v, le)],
    [8, 'int32', 32, [-(2 ** 31), -1, 0, 65536, 2 ** 31 - 1, 11], (dv, at, v, le) => dv.setInt32(at, v, le)],
    [768, 'uint32', 32, [0, 1, 65536, 2 ** 31, 2 ** 32 - 1, 13], (dv, at, v, le) => dv.setUint32(at, v, le)],
    [16, 'float32', 32, [-1.5, 0.1, 3e38, -0, 2 ** -140, 6.25], (dv, at, v, le) => dv.setFloat32(at, v, le)],
    [64, 'float64', 64, [-1.5, 0.1, 1e300, -2.25, 1 / 3, 6.25], (dv, at, v, le) => dv.setFloat64(at, v, le)],
  ];
  for (const [code, name, bitpix, values, set] of cases) {
    for (const le of [true, false]) {
      it(`${name} ${le ? 'little' : 'big'} endian: nibabel's values, x fastest on disk`, () => {
        const bytes = bitpix / 8;
        // shape [3, 2, 1]: disk index f = x + 3 y
        const file = nifti1({ dims: [3, 3, 2, 1, 1, 1, 1, 1], datatype: code, bitpix, le }, values.length * bytes,
          (dv, at) => values.forEach((v, f) => set(dv, at + f * bytes, v, le)));
        const img = parseNifti(file, `${name}.nii`);
        expect(img.info.datatype).toBe(name);
        expect(img.info.datatypeCode).toBe(code);
        expect(img.info.littleEndian).toBe(le);
        expect(img.volume.shape).toEqual([3, 2, 1]);
        for (let x = 0; x < 3; x++) for (let y = 0; y < 2; y++) expect(img.volume.data[x * 2 + y]).toBe(Math.fround(values[x + 3 * y]!));
      });
    }
  }

  it('reads a big-endian sform as stored', () => {
    const srow = [[0, -2, 0, 5.5], [1.5, 0, 0, -3], [0, 0, 3, 1]];
    const img = parseNifti(nifti1({ dims: [3, 1, 1, 1], datatype: 2, bitpix: 8, le: false, sformCode: 1, srow }, 1), 'be.nii');
    expect(img.info.affineSource).toBe('sform');
    expect(img.info.sformCode).toBe(1);
    expect(img.info.affine).toEqual([...srow, [0, 0, 0, 1]]);
  });
});

describe('scl_slope and scl_inter (nifti1.h: used when scl_slope is finite and nonzero)', () => {
  const int16 = (slope: number, inter: number) => parseNifti(nifti1({ dims: [3, 2, 1, 1], datatype: 4, bitpix: 16, slope, inter }, 4,
    (dv, at) => { dv.setInt16(at, -3, true); dv.setInt16(at + 2, 8, true); }), 's.nii');

  it('y = slope·x + inter, a negative slope too; the stored values are reported', () => {
    const img = int16(-0.5, 2);
    expect(Array.from(img.volume.data)).toEqual([3.5, -2]);
    expect([img.info.sclSlope, img.info.sclInter]).toEqual([-0.5, 2]);
  });

  it('a slope of 0, NaN or ±Inf means no scaling (and no intercept)', () => {
    for (const slope of [0, NaN, Infinity, -Infinity]) {
      const img = int16(slope, 100);
      expect(Array.from(img.volume.data), `slope ${slope}`).toEqual([-3, 8]);
      expect(img.info.sclSlope).toBe(slope);
      expect(img.info.sclInter).toBe(100);
    }
  });

  it('a non-finite intercept with a valid slope counts as 0', () => {
    for (const inter of [NaN, Infinity]) expect(Array.from(int16(2, inter).volume.data)).toEqual([-6, 16]);
  });
});

describe('header checks name the file and the bad field', () => {
  const u8 = (h: Partial<Header>, dataBytes = 8) => nifti1({ dims: [3, 2, 2, 2], datatype: 2, bitpix: 8, ...h }, dataBytes);

  it('too short, not NIfTI, unsupported datatype', () => {
    expect(() => parseNifti(new Uint8Array(3), 'a.nii')).toThrow(escape('NIfTI a.nii: file too short (3 bytes) for a NIfTI header'));
    expect(() => parseNifti(new Uint8Array(0), 'a.nii')).toThrow(escape('NIfTI a.nii: file too short (0 bytes) for a NIfTI header'));
    // a header of 4 or more bytes is then judged by its size and magic
    expect(() => parseNifti(new Uint8Array(4), 'b.nii')).toThrow(escape('NIfTI b.nii: not a NIfTI-1/NIfTI-2 single file (bad sizeof_hdr or magic)'));
    expect(() => parseNifti(u8({ magic: [0x6e, 0x69, 0x31, 0] }), 'pair.hdr')).toThrow(/^NIfTI pair\.hdr: not a NIfTI-1\/NIfTI-2 single file/);
    expect(() => parseNifti(u8({ datatype: 128, bitpix: 24 }), 'rgb.nii')).toThrow(escape('NIfTI rgb.nii: unsupported datatype code 128'));
    expect(() => parseNifti(u8({ bitpix: 16 }), 'bp.nii')).toThrow(escape('NIfTI bp.nii: bitpix 16 does not match datatype uint8'));
  });

  it('a NIfTI-2 header cut short: the parser\'s error, or the header size when the parser read no further', () => {
    const n2 = (length: number) => {
      const buf = new Uint8Array(length);
      new DataView(buf.buffer).setInt32(0, 540, true);
      buf.set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4);
      return buf;
    };
    expect(() => parseNifti(n2(400), 'n2.nii')).toThrow(/^NIfTI n2\.nii: cannot parse the header: \S/);
    for (const length of [530, 539]) expect(() => parseNifti(n2(length), 'n2.nii')).toThrow(escape(`NIfTI n2.nii: truncated header (${length} of 540 bytes)`));
  });

  it('dim[0] outside 1…7 and dimensions below 1', () => {
    for (const rank of [0, -1, 8]) {
      expect(() => parseNifti(u8({ dims: [rank, 2, 2, 2] }), 'r.nii')).toThrow(escape(`NIfTI r.nii: bad dim[0] = ${rank}`));
    }
    expect(() => parseNifti(u8({ dims: [3, 2, 0, 2] }), 'd.nii')).toThrow(escape('NIfTI d.nii: bad dimensions [2, 0, 2]'));
    expect(() => parseNifti(u8({ dims: [3, 2, -2, 2] }), 'd.nii')).toThrow(escape('NIfTI d.nii: bad dimensions [2, -2, 2]'));
    // dim[0] = 7: all seven sizes are read, and the trailing ones dropped
    expect(parseNifti(u8({ dims: [7, 2, 2, 2, 1, 1, 1, 1] }), 'seven.nii').volume.shape).toEqual([2, 2, 2]);
  });

  it('fewer than 3 dimensions are padded with 1; more are refused unless they are trailing ones', () => {
    expect(parseNifti(u8({ dims: [2, 4, 2] }), 'two.nii').volume.shape).toEqual([4, 2, 1]);
    expect(parseNifti(u8({ dims: [1, 8] }), 'one.nii').volume.shape).toEqual([8, 1, 1]);
    expect(parseNifti(u8({ dims: [5, 2, 2, 2, 1, 1] }), 'five.nii').volume.shape).toEqual([2, 2, 2]);
    expect(() => parseNifti(u8({ dims: [5, 2, 2, 1, 1, 2] }, 16), 'series.nii'))
      .toThrow(escape('NIfTI series.nii: expected a 3-D image, got dimensions [2, 2, 1, 1, 2]; readNiftiChannels() reads the 5th axis as channels'));
    expect(() => parseNifti(u8({ dims: [4, 2, 2, 1, 2] }, 16), 'series.nii'))
      .toThrow(escape('NIfTI series.nii: expected a 3-D image, got dimensions [2, 2, 1, 2]; readNiftiChannels() reads the 4th axis as channels'));
  });

  it('vox_offset inside the header, and image data past the end of the file', () => {
    expect(() => parseNifti(u8({ voxOffset: 344 }), 'v.nii')).toThrow(escape('NIfTI v.nii: bad vox_offset 344'));
    // vox_offset = sizeof_hdr is allowed (no extension bytes)
    const at348 = u8({ voxOffset: 348 }, 8);
    expect(parseNifti(at348.subarray(0, 356), 'v348.nii').info.voxOffset).toBe(348);
    const short = u8({}, 8).subarray(0, 359);
    expect(() => parseNifti(short, 't.nii')).toThrow(escape('NIfTI t.nii: truncated: image data needs 360 bytes (vox_offset 352 + 8 voxels × 1), file has 359'));
    expect(parseNifti(u8({}, 8).subarray(0, 360), 'exact.nii').volume.data.length).toBe(8);
  });

  it('a file that ends with its header is truncated image data, not a truncated header', () => {
    expect(() => parseNifti(u8({}).subarray(0, 348), 'hdr-only.nii'))
      .toThrow(escape('NIfTI hdr-only.nii: truncated: image data needs 360 bytes (vox_offset 352 + 8 voxels × 1), file has 348'));
  });

  it('the sform wins over the qform whatever their codes (nibabel\'s get_best_affine)', () => {
    const srow = [[2, 0, 0, -1], [0, 3, 0, -2], [0, 0, 4, -3]];
    // qform_code 2 > sform_code 1, and the qform (identity quaternion, pixdim 1) differs from the sform
    const img = parseNifti(u8({ qformCode: 2, sformCode: 1, srow }), 'both.nii');
    expect(img.info.affineSource).toBe('sform');
    expect(img.info.affine).toEqual([...srow, [0, 0, 0, 1]]);
  });

  it('reads the voxels from vox_offset, past extension bytes', () => {
    const file = nifti1({ dims: [3, 2, 1, 1], datatype: 2, bitpix: 8, voxOffset: 400 }, 2, (dv, at) => { dv.setUint8(at, 9); dv.setUint8(at + 1, 4); });
    file.fill(0xee, 352, 400);
    const img = parseNifti(file, 'ext.nii');
    expect(img.info.voxOffset).toBe(400);
    expect(Array.from(img.volume.data)).toEqual([9, 4]);
  });

  it('a header inside a larger buffer (at an offset, or shared memory) is read from its own first byte', () => {
    const file = nifti1({ dims: [3, 2, 1, 1], datatype: 16, bitpix: 32 }, 8, (dv, at) => { dv.setFloat32(at, 1.5, true); dv.setFloat32(at + 4, -2, true); });
    const big = new Uint8Array(file.length + 24).fill(0x5a);
    big.set(file, 16);
    expect(Array.from(parseNifti(big.subarray(16, 16 + file.length), 'view.nii').volume.data)).toEqual([1.5, -2]);
    const shared = new Uint8Array(new SharedArrayBuffer(file.length));
    shared.set(file);
    expect(Array.from(parseNifti(shared, 'shared.nii').volume.data)).toEqual([1.5, -2]);
  });
});

describe('files', () => {
  it('gzip is detected from both magic bytes, not from the name', async () => {
    const plain = encodeNifti({ data: Float32Array.of(1, 2, 3, 4), shape: [2, 2, 1] });
    const renamed = path.join(dir, 'plain-named.nii.gz');
    writeFileSync(renamed, plain);
    expect(Array.from((await readNifti(renamed)).volume.data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(readNiftiSync(renamed).volume.data)).toEqual([1, 2, 3, 4]);
    const gz = path.join(dir, 'gz-named.nii');
    writeFileSync(gz, gzipSync(plain));
    expect(Array.from((await readNifti(gz)).volume.data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(readNiftiSync(gz).volume.data)).toEqual([1, 2, 3, 4]);
    // one gzip magic byte is not gzip: the file is read as it is
    for (const head of [[0x1f, 0x00], [0x00, 0x8b]]) {
      const f = path.join(dir, `half-magic-${head[0]}.nii`);
      writeFileSync(f, Uint8Array.from([...head, ...new Uint8Array(400)]));
      await expect(readNifti(f)).rejects.toThrow(/not a NIfTI-1\/NIfTI-2 single file/);
      expect(() => readNiftiSync(f)).toThrow(/not a NIfTI-1\/NIfTI-2 single file/);
    }
    // the two magic bytes alone are a gzip stream, cut short
    const two = path.join(dir, 'two-bytes.nii');
    writeFileSync(two, Uint8Array.of(0x1f, 0x8b));
    expect(() => readNiftiSync(two)).toThrow(/two-bytes\.nii: corrupt gzip stream: /);
    await expect(readNifti(two)).rejects.toThrow(/two-bytes\.nii: corrupt gzip stream: /);
  });

  it('readNifti refuses a missing file or a folder before reading', async () => {
    const missing = path.join(dir, 'absent.nii');
    await expect(readNifti(missing)).rejects.toThrow(escape(`NIfTI ${missing}: missing file`));
    await expect(readNifti(dir)).rejects.toThrow(escape(`NIfTI ${dir}: not a regular file (a folder)`));
  });

  it('a corrupt gzip stream and a missing file are named as such', async () => {
    const f = path.join(dir, 'corrupt.nii.gz');
    writeFileSync(f, Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]));
    await expect(readNifti(f)).rejects.toThrow(new RegExp(`^NIfTI ${f.replace(/[.]/g, '\\.')}: corrupt gzip stream: `));
    expect(() => readNiftiSync(f)).toThrow(new RegExp(`^NIfTI ${f.replace(/[.]/g, '\\.')}: corrupt gzip stream: `));
    const missing = path.join(dir, 'missing.nii');
    expect(() => readNiftiSync(missing)).toThrow(escape(`NIfTI ${missing}: missing file`));
  });

  it('writeNifti gzips a path ending in .gz in any case, and names a file it cannot write', () => {
    const vol = { data: Uint8Array.of(1, 2), shape: [2, 1, 1] as Shape3 };
    for (const [name, gz] of [['upper.NII.GZ', true], ['plain.nii', false], ['gz-inside.gz.nii', false]] as const) {
      const f = path.join(dir, name);
      writeNifti(f, vol);
      const raw = readFileSync(f);
      expect(raw[0] === 0x1f && raw[1] === 0x8b, name).toBe(gz);
      expect(Array.from(readNiftiSync(f).volume.data)).toEqual([1, 2]);
    }
    const bad = path.join(dir, 'no-such-dir', 'x.nii');
    expect(() => writeNifti(bad, vol)).toThrow(escape(`NIfTI ${bad}: cannot write file: ENOENT`));
  });
});

describe('the header encodeNifti writes', () => {
  it('uint8: datatype 2, bitpix 8, values clamped to [0, 255] and rounded half up', () => {
    const data = Float32Array.of(-3, 0.49, 0.5, 1.5, 254.5, 255, 300, 7);
    const bytes = encodeNifti({ data, shape: [8, 1, 1] }, { datatype: 'uint8' });
    const dv = new DataView(bytes.buffer);
    expect(dv.getInt16(70, true)).toBe(2);
    expect(dv.getInt16(72, true)).toBe(8);
    expect(bytes.length).toBe(352 + 8);
    expect(Array.from(bytes.subarray(352))).toEqual([0, 0, 1, 2, 255, 255, 255, 7]);
    // a Uint8Array written as float32 keeps its values
    const f32 = encodeNifti({ data: Uint8Array.of(0, 200), shape: [2, 1, 1] }, { datatype: 'float32' });
    expect(new DataView(f32.buffer).getInt16(70, true)).toBe(16);
    expect(Array.from(parseNifti(f32, 'f.nii').volume.data)).toEqual([0, 200]);
  });

  it('the fixed fields: dims beyond 3 are 1, pixdim beyond 3 are 1, scl 1/0, xyzt_units mm, both codes 2 (aligned anat.)', () => {
    const bytes = encodeNifti({ data: new Float32Array(24), shape: [2, 3, 4] }, { affine: [[2, 0, 0, 1], [0, 3, 0, 2], [0, 0, 4, 3], [0, 0, 0, 1]] });
    const dv = new DataView(bytes.buffer);
    expect(Array.from({ length: 8 }, (_, i) => dv.getInt16(40 + 2 * i, true))).toEqual([3, 2, 3, 4, 1, 1, 1, 1]);
    expect(Array.from({ length: 8 }, (_, i) => dv.getFloat32(76 + 4 * i, true))).toEqual([1, 2, 3, 4, 1, 1, 1, 1]);
    expect(dv.getUint8(39)).toBe(0);
    expect([dv.getFloat32(112, true), dv.getFloat32(116, true)]).toEqual([1, 0]);
    expect(dv.getUint8(123)).toBe(2);
    expect([dv.getInt16(252, true), dv.getInt16(254, true)]).toEqual([2, 2]);
    const img = parseNifti(bytes, 'h.nii');
    expect([img.info.qformCode, img.info.sformCode]).toEqual([2, 2]);
    expect([img.info.sclSlope, img.info.sclInter]).toEqual([1, 0]);
    expect(img.info.description).toBe('voxgrad');
    // fields not written stay zero: intent_name (328–343), after the sform's last row
    expect(Array.from(bytes.subarray(328, 344))).toEqual(new Array(16).fill(0));
  });

  it('the description: at most 79 characters (80 with the terminating NUL), 7-bit ASCII', () => {
    const read = (description: string) => parseNifti(encodeNifti({ data: new Uint8Array(1), shape: [1, 1, 1] }, { description }), 'd.nii').info.description;
    expect(read('T1 brain')).toBe('T1 brain');
    expect(read('x'.repeat(79) + 'TAIL')).toBe('x'.repeat(79));
    const bytes = encodeNifti({ data: new Uint8Array(1), shape: [1, 1, 1] }, { description: 'y'.repeat(100) });
    expect(bytes[148 + 78]).toBe(0x79);
    expect(bytes[148 + 79]).toBe(0);
    const accented = encodeNifti({ data: new Uint8Array(1), shape: [1, 1, 1] }, { description: 'r\u00e9sum\u00e9 \u00b5m' });
    expect(Array.from(accented.subarray(148, 228)).every((b) => b < 0x80)).toBe(true);
    expect(read('r\u00e9sum\u00e9 \u00b5m')).toHaveLength(9);
  });

  it('refuses data of the wrong length and an affine that is not 3×4 or 4×4 finite numbers', () => {
    expect(() => encodeNifti({ data: new Float32Array(5), shape: [2, 3, 1] })).toThrow(escape('encodeNifti: data length 5 does not match shape [2, 3, 1]'));
    const msg = escape('encodeNifti: affine must be 3×4 or 4×4 finite numbers');
    const vol = { data: new Float32Array(1), shape: [1, 1, 1] as Shape3 };
    expect(() => encodeNifti(vol, { affine: [[1, 0, 0, 0], [0, 1, 0, 0]] })).toThrow(msg);
    expect(() => encodeNifti(vol, { affine: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] })).toThrow(msg);
    expect(() => encodeNifti(vol, { affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0, 5]] })).toThrow(msg);
    expect(() => encodeNifti(vol, { affine: [[1, 0, 0, 0], [0, NaN, 0, 0], [0, 0, 1, 0]] })).toThrow(msg);
    expect(() => encodeNifti(vol, { affine: [[1, 0, 0, 0], [0, 1, 0, Infinity], [0, 0, 1, 0]] })).toThrow(msg);
    // a 3×4 affine is enough: the fourth row is implied
    const img = parseNifti(encodeNifti(vol, { affine: [[2, 0, 0, 1], [0, 2, 0, 1], [0, 0, 2, 1]] }), 'a.nii');
    expect(img.info.affine).toEqual([[2, 0, 0, 1], [0, 2, 0, 1], [0, 0, 2, 1], [0, 0, 0, 1]]);
  });
});

/** nifti1.h's rotation of the quaternion (a, b, c, d), a = √(1 − b² − c² − d²). */
function quaternionRotation(b: number, c: number, d: number): number[][] {
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  return [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
}

/** nifti1.h "method 2": R · diag(dx, dy, qfac·dz) plus the offsets. */
function qformAffine(q: ReturnType<typeof affineToQuatern>): number[][] {
  const r = quaternionRotation(q.b, q.c, q.d), s = [q.dx, q.dy, q.qfac * q.dz], o = [q.qx, q.qy, q.qz];
  return [...[0, 1, 2].map((i) => [...[0, 1, 2].map((j) => r[i]![j]! * s[j]!), o[i]!]), [0, 0, 0, 1]];
}

const matMul = (a: number[][], b: number[][]): number[][] => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));

/** R · diag(scales) with the offsets, as an affine. */
function affineOf(r: number[][], scales: number[], offset: number[]): number[][] {
  return [...r.map((row, i) => [...row.map((v, j) => v * scales[j]!), offset[i]!]), [0, 0, 0, 1]];
}

function expectAffineClose(got: number[][], want: number[][], tol: number, what: string): void {
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
    expect(Math.abs(got[i]![j]! - want[i]![j]!), `${what} [${i}][${j}]: ${got[i]![j]} vs ${want[i]![j]}`).toBeLessThan(tol);
  }
}

describe('affineToQuatern (nifti_mat44_to_quatern)', () => {
  it('recovers any rotation, both handednesses, any voxel sizes: a ≥ 0 and the qform reproduces the affine', () => {
    const unit = fc.double({ min: -1, max: 1, noNaN: true });
    fc.assert(fc.property(
      // a = 0 exactly (half turns) in the next test: near it, a = √(1 − b² − c² − d²) loses half the digits
      fc.tuple(unit, unit, unit, unit).filter((q) => Math.hypot(...q) > 0.1 && Math.abs(q[0]) / Math.hypot(...q) > 0.01),
      fc.tuple(fc.double({ min: 0.2, max: 5, noNaN: true }), fc.double({ min: 0.2, max: 5, noNaN: true }), fc.double({ min: 0.2, max: 5, noNaN: true })),
      fc.boolean(), fc.tuple(fc.integer({ min: -100, max: 100 }), fc.integer({ min: -100, max: 100 }), fc.integer({ min: -100, max: 100 })),
      (q0, scales, flip, offset) => {
        const n = Math.hypot(...q0), sign = q0[0] < 0 ? -1 : 1;
        const [, b, c, d] = q0.map((v) => (sign * v) / n) as [number, number, number, number];
        const affine = affineOf(quaternionRotation(b, c, d), [scales[0], scales[1], flip ? -scales[2] : scales[2]], offset);
        const q = affineToQuatern(affine);
        expect(q.qfac).toBe(flip ? -1 : 1);
        expect(b * b + c * c + d * d).toBeLessThanOrEqual(1 + 1e-12);
        for (const [got, want] of [[q.dx, scales[0]], [q.dy, scales[1]], [q.dz, scales[2]]] as const) expect(got).toBeCloseTo(want, 10);
        expect([q.qx, q.qy, q.qz]).toEqual(offset);
        expectAffineClose(qformAffine(q), affine, 1e-9, 'qform');
      },
    ), { numRuns: 300 });
  });

  it('half turns about each axis (a = 0) and large turns about a slanted axis take the other branches', () => {
    const half = [[[1, 0, 0], [0, -1, 0], [0, 0, -1]], [[-1, 0, 0], [0, 1, 0], [0, 0, -1]], [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]];
    half.forEach((r, axis) => {
      const q = affineToQuatern(affineOf(r, [1, 2, 3], [4, 5, 6]));
      expect([q.b, q.c, q.d].map(Math.abs)).toEqual([0, 1, 2].map((i) => (i === axis ? 1 : 0)));
      expectAffineClose(qformAffine(q), affineOf(r, [1, 2, 3], [4, 5, 6]), 1e-12, `half turn ${axis}`);
    });
    // 160° about axes near x, y and z (each of the three cases of a trace below −0.5), either way round
    for (const axis of [[3, -1, 2], [1, 2, 3], [1, -3, -1], [-1, 1, 4]].flatMap((u) => [u, u.map((v) => -v)])) {
      const n = Math.hypot(...axis), s = Math.sin((160 * Math.PI) / 360);
      const r = quaternionRotation(s * axis[0]! / n, s * axis[1]! / n, s * axis[2]! / n);
      expect(r[0]![0]! + r[1]![1]! + r[2]![2]!).toBeLessThan(-0.5);
      for (const sign of [1, -1]) {
        const affine = affineOf(r, [1.5, 1, sign * 2], [0, 0, 0]);
        const q = affineToQuatern(affine);
        expectAffineClose(qformAffine(q), affine, 1e-12, `160° about [${axis}], qfac ${sign}`);
      }
    }
  });

  it('a sheared affine gets the closest rotation (the polar factor) and its column norms as voxel sizes', () => {
    // columns R·P·diag(d) with P symmetric positive definite and unit columns: the polar factor of R·P is R
    const r = quaternionRotation(0.3, -0.2, 0.5);
    const p = [[0.96, 0.28, 0], [0.28, 0.96, 0], [0, 0, 1]];
    const sheared = affineOf(matMul(r, p), [2, 3, 4], [1, 2, 3]);
    const q = affineToQuatern(sheared);
    expect([q.dx, q.dy, q.dz].map((v) => Number(v.toFixed(12)))).toEqual([2, 3, 4]);
    expectAffineClose(qformAffine(q), affineOf(r, [2, 3, 4], [1, 2, 3]), 1e-9, 'polar factor');
  });

  it('a zero column counts as a unit axis (nifti1_io), and a singular affine still gives a qform', () => {
    const q = affineToQuatern([[0, 0, 0, 1], [0, 2, 0, 2], [0, 0, 3, 3], [0, 0, 0, 1]]);
    expect([q.dx, q.dy, q.dz, q.qfac]).toEqual([1, 2, 3, 1]);
    expectAffineClose(qformAffine(q), [[1, 0, 0, 1], [0, 2, 0, 2], [0, 0, 3, 3], [0, 0, 0, 1]], 1e-12, 'zero x column');
    for (const zero of [1, 2]) {
      const a = [[2, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 1]].map((row) => row.map((v, j) => (j === zero ? 0 : v)));
      const z = affineToQuatern(a);
      expect([z.dx, z.dy, z.dz]).toEqual([2, 3, 4].map((v, j) => (j === zero ? 1 : v)));
      expectAffineClose(qformAffine(z), [[2, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 1]].map((row, i) => row.map((v, j) => (j === zero && i === j ? 1 : v))), 1e-12, `zero column ${zero}`);
    }
    // two equal columns: no inverse for the polar iteration; the file is still written and its sform kept
    const singular = [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const img = parseNifti(encodeNifti({ data: new Uint8Array(1), shape: [1, 1, 1] }, { affine: singular }), 's.nii');
    expect(img.info.affine).toEqual(singular);
    const s = affineToQuatern(singular);
    expect([s.b, s.c, s.d].every(Number.isFinite)).toBe(true);
  });

  it('the written qform, read back through the qform path, reproduces a rotated affine', () => {
    const r = quaternionRotation(0.6, -0.5, 0.4);
    for (const flip of [1, -1]) {
      const affine = affineOf(r, [0.9, 1.1, flip * 2.2], [-7, 8, 9.5]);
      const bytes = encodeNifti({ data: new Float32Array(8), shape: [2, 2, 2] }, { affine });
      new DataView(bytes.buffer).setInt16(254, 0, true);
      const img = parseNifti(bytes, 'q.nii');
      expect(img.info.affineSource).toBe('qform');
      expectAffineClose(img.info.affine, affine, 2e-6, `qform flip ${flip}`);
    }
  });
});
