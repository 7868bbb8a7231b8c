import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  encodeNifti, parseNifti, parseNiftiChannels, readNifti, readNiftiChannels, writeNifti, type NiftiWritable,
} from '../../../src/imaging/io/nifti.js';
import type { MultiChannelVolume } from '../../../src/imaging/volume.js';

/**
 * Channels in NIfTI: a channels-first MultiChannelVolume [C, X, Y, Z] is written as NIfTI's [X, Y, Z, C] (dim[0] = 4,
 * dim[4] = C, x fastest on disk, then y, z and the channel, as nibabel and MONAI's SaveImage store them) and read
 * back channels first by readNiftiChannels.
 */

let dir = '';
beforeAll(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-nifti-channels-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** volume[c, x, y, z] of a channels-first volume. */
const at = (v: MultiChannelVolume<Float32Array | Uint8Array>, c: number, x: number, y: number, z: number): number => {
  const [, X, Y, Z] = v.shape;
  return v.data[((c * X + x) * Y + y) * Z + z]!;
};

const shape4Arb = fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }));
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

describe('writing channels: [C, X, Y, Z] as NIfTI [X, Y, Z, C]', () => {
  it('the header: dim [4, X, Y, Z, C, 1, 1, 1], pixdim[4] = 1; the data x fastest, then y, z, the channel (random shapes, both datatypes)', () => {
    fc.assert(fc.property(shape4Arb, fc.boolean(), (shape, u8) => {
      const n = count(shape);
      const image: MultiChannelVolume<Float32Array | Uint8Array> = u8
        ? { data: Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256), shape }
        : { data: Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i) * 100)), shape };
      const bytes = encodeNifti(image, { affine: [[2, 0, 0, 1], [0, 3, 0, 2], [0, 0, 4, 3], [0, 0, 0, 1]] });
      const dv = new DataView(bytes.buffer);
      const [C, X, Y, Z] = shape;
      expect(Array.from({ length: 8 }, (_, i) => dv.getInt16(40 + 2 * i, true))).toEqual([4, X, Y, Z, C, 1, 1, 1]);
      expect(Array.from({ length: 8 }, (_, i) => dv.getFloat32(76 + 4 * i, true))).toEqual([1, 2, 3, 4, 1, 1, 1, 1]);
      expect([dv.getInt16(70, true), dv.getInt16(72, true)]).toEqual(u8 ? [2, 8] : [16, 32]);
      expect(bytes.length).toBe(352 + n * (u8 ? 1 : 4));
      for (let c = 0; c < C; c++) for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
        const f = x + X * (y + Y * (z + Z * c));
        expect(u8 ? bytes[352 + f] : dv.getFloat32(352 + 4 * f, true)).toBe(at(image, c, x, y, z));
      }
    }), { numRuns: 40 });
  });

  it('one channel [1, X, Y, Z] is the 3-D image [X, Y, Z], byte for byte (MONAI\'s squeeze_end_dims)', () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i / 3);
    expect(Array.from(encodeNifti({ data, shape: [1, 2, 3, 4] }))).toEqual(Array.from(encodeNifti({ data, shape: [2, 3, 4] })));
  });

  it('refuses a shape NIfTI-1 cannot hold or a data length that does not match, naming them', () => {
    const message = (shape: number[]) => escape(`encodeNifti: shape [${shape.join(', ')}] is not [X, Y, Z] or channels first [C, X, Y, Z] of sizes 1 to 32767 (NIfTI-1's dim is int16)`);
    for (const shape of [[2, 3], [1, 2, 3, 4, 5], [2, 0, 3, 3], [2, 3, -1], [2.5, 3, 3, 3], [40000, 1, 1], [1, 1, 1, 32768], [2, NaN, 1, 1]]) {
      expect(() => encodeNifti({ data: new Float32Array(6), shape } as unknown as NiftiWritable)).toThrow(message(shape));
    }
    // the largest size NIfTI-1 holds is fine
    expect(new DataView(encodeNifti({ data: new Uint8Array(32767), shape: [32767, 1, 1] }).buffer).getInt16(42, true)).toBe(32767);
    expect(() => encodeNifti({ data: new Float32Array(23), shape: [2, 3, 2, 2] })).toThrow(escape('encodeNifti: data length 23 does not match shape [2, 3, 2, 2]'));
  });
});

describe('reading channels: NIfTI [X, Y, Z, C] as [C, X, Y, Z]', () => {
  it('float32 and uint8 round trips through files, .nii and .nii.gz, with the affine (random shapes)', async () => {
    await fc.assert(fc.asyncProperty(shape4Arb, fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 1000 }), async (shape, u8, gz, seed) => {
      const n = count(shape);
      const data = u8 ? Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256) : Float32Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i + seed) * 1e3));
      const affine = [[0, -1.5, 0, 4], [2, 0, 0, -3], [0, 0, 2.5, 7], [0, 0, 0, 1]];
      const file = path.join(dir, `rt-${seed}-${u8}.nii${gz ? '.gz' : ''}`);
      writeNifti(file, { data, shape }, { affine });
      const read = await readNiftiChannels(file);
      expect(read.image.shape).toEqual(shape);
      expect(read.image.data).toBeInstanceOf(Float32Array);
      expect(Array.from(read.image.data)).toEqual(Array.from(data));
      expect(read.info.datatype).toBe(u8 ? 'uint8' : 'float32');
      expect(read.info.affine).toEqual(affine);
    }), { numRuns: 20 });
  });

  it('a Float32Array written as uint8 is clamped and rounded, channel by channel', () => {
    const bytes = encodeNifti({ data: Float32Array.of(-1, 0.5, 254.6, 300, 7.49, 8), shape: [2, 3, 1, 1] }, { datatype: 'uint8' });
    expect(Array.from(parseNiftiChannels(bytes, 'u.nii').image.data)).toEqual([0, 1, 255, 255, 7, 8]);
  });

  it('a 3-D image is one channel; readNifti refuses channels, pointing to readNiftiChannels', async () => {
    const file = path.join(dir, 'three.nii');
    writeNifti(file, { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [3, 2, 1] });
    expect((await readNiftiChannels(file)).image).toEqual({ data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [1, 3, 2, 1] });
    const four = path.join(dir, 'four.nii');
    writeNifti(four, { data: new Float32Array(12), shape: [2, 3, 2, 1] });
    await expect(readNifti(four)).rejects.toThrow(escape(`NIfTI ${four}: expected a 3-D image, got dimensions [3, 2, 1, 2]; readNiftiChannels() reads the 4th axis as channels`));
    expect(readFileSync(four).length).toBe(352 + 48);
  });

  /** A NIfTI-1 file by hand: big-endian int16 values 0, 1, 2, … in disk order, under `dims`, scaled by slope 0.5. */
  function int16BigEndian(dims: number[]): Uint8Array {
    const n = count(dims.slice(1, dims[0]! + 1));
    const buf = new Uint8Array(352 + 2 * n);
    const dv = new DataView(buf.buffer);
    dv.setInt32(0, 348, false);
    dims.forEach((d, i) => dv.setInt16(40 + 2 * i, d, false));
    dv.setInt16(70, 4, false);
    dv.setInt16(72, 16, false);
    for (let i = 0; i < 8; i++) dv.setFloat32(76 + 4 * i, 1, false);
    dv.setFloat32(108, 352, false);
    dv.setFloat32(112, 0.5, false);
    buf.set([0x6e, 0x2b, 0x31, 0], 344);
    for (let f = 0; f < n; f++) dv.setInt16(352 + 2 * f, f - 10, false);
    return buf;
  }

  it('nibabel\'s [x, y, z, c] is our [c, x, y, z]: another datatype, byte order and scaling; the spec\'s vector form [X, Y, Z, 1, C] too', () => {
    for (const dims of [[4, 3, 2, 2, 3, 1, 1, 1], [5, 3, 2, 2, 1, 3, 1, 1], [7, 3, 2, 2, 3, 1, 1, 1]]) {
      const { image, info } = parseNiftiChannels(int16BigEndian(dims), 'be.nii');
      expect(info.datatype).toBe('int16');
      expect(info.littleEndian).toBe(false);
      expect(image.shape).toEqual([3, 3, 2, 2]);
      for (let c = 0; c < 3; c++) for (let x = 0; x < 3; x++) for (let y = 0; y < 2; y++) for (let z = 0; z < 2; z++) {
        expect(at(image, c, x, y, z)).toBe(0.5 * (x + 3 * (y + 2 * (z + 2 * c)) - 10));
      }
    }
    // the 3-D reader reads the same voxels of a one-channel file
    expect(Array.from(parseNifti(int16BigEndian([4, 3, 2, 2, 1, 1, 1, 1]), 'one.nii').volume.data))
      .toEqual(Array.from(parseNiftiChannels(int16BigEndian([3, 3, 2, 2, 1, 1, 1, 1]), 'one.nii').image.data));
  });

  it('refuses more than one axis beyond the three, naming the dimensions', () => {
    expect(() => parseNiftiChannels(int16BigEndian([5, 3, 2, 2, 2, 3, 1, 1]), 'series.nii'))
      .toThrow(escape('NIfTI series.nii: expected a 3-D image or channels on the 4th axis (or the 5th after a 4th of 1), got dimensions [3, 2, 2, 2, 3]'));
    expect(() => parseNifti(int16BigEndian([5, 3, 2, 2, 2, 3, 1, 1]), 'series.nii'))
      .toThrow(escape('NIfTI series.nii: expected a 3-D image, got dimensions [3, 2, 2, 2, 3]'));
    expect(() => parseNifti(int16BigEndian([5, 3, 2, 2, 1, 3, 1, 1]), 'vector.nii'))
      .toThrow(escape('NIfTI vector.nii: expected a 3-D image, got dimensions [3, 2, 2, 1, 3]; readNiftiChannels() reads the 5th axis as channels'));
  });
});
