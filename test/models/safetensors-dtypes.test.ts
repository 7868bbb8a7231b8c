/**
 * The safetensors reader on hand-encoded bytes, one dtype at a time (no Python needed): the bit patterns
 * are written here and the expected values derived from the IEEE 754 / bfloat16 definitions, so a wrong
 * exponent bias, shift or integer conversion fails in CI. And the handling of dtypes the engine cannot hold.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Linear, decodeSafetensors, encodeSafetensors, loadModel, type HostTensor } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

interface Entry { name: string; dtype: string; shape: number[]; bytes: Uint8Array }

/** header length as u64 LE, the JSON header (unpadded: the format allows it), the tensors' bytes in order */
function file(entries: Entry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let at = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [at, at + e.bytes.length] };
    at += e.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const e of entries) { out.set(e.bytes, p); p += e.bytes.length; }
  return out;
}

/** little-endian bytes of unsigned 16-bit words */
const u16le = (words: number[]) => Uint8Array.from(words.flatMap((w) => [w & 0xff, w >> 8]));

function readOne(dtype: string, bytes: Uint8Array, count: number) {
  const t = decodeSafetensors(file([{ name: 't', dtype, shape: [count], bytes }]), 'x.safetensors').tensors.get('t')!;
  return { dtype: t.dtype, values: Array.from(t.data) };
}

/** expect the same numbers, −0 and NaN included */
function expectSame(actual: number[], expected: number[]) {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Object.is(a, expected[i]), `element ${i}: ${a}, expected ${expected[i]}`).toBe(true));
}

describe('safetensors: every readable dtype from hand-encoded bytes', () => {
  it('F16: sign, bias 15, normals, subnormals, ±inf, NaN (as float32)', () => {
    const cases: [number, number][] = [
      [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x3800, 0.5],
      [0x3555, 1365 / 4096], // 0 01101 0101010101: (1 + 341/1024)·2^−2
      [0x7bff, 65504], // the largest half
      [0x0400, 2 ** -14], // the smallest normal
      [0x03ff, 1023 * 2 ** -24], // the largest subnormal
      [0x0001, 2 ** -24], // the smallest subnormal
      [0x8001, -(2 ** -24)],
      [0x7c00, Infinity], [0xfc00, -Infinity], [0x7e00, NaN], [0x7c01, NaN],
    ];
    const r = readOne('F16', u16le(cases.map((c) => c[0])), cases.length);
    expect(r.dtype).toBe('float32');
    expectSame(r.values, cases.map((c) => c[1]));
  });

  it('BF16: the top 16 bits of a float32 (as float32)', () => {
    const cases: [number, number][] = [
      [0x0000, 0], [0x8000, -0], [0x3f80, 1], [0xc040, -3], [0x4049, 3.140625],
      [0x3eab, 0.333984375], // 1/3 rounded to 8 significant bits: 0 01111101 0101011
      [0x7f7f, 255 * 2 ** 120], // the largest bfloat16: (2 − 2^−7)·2^127
      [0x0080, 2 ** -126], // the smallest normal
      [0x0001, 2 ** -133], // the smallest subnormal
      [0x7f80, Infinity], [0xff80, -Infinity], [0x7fc0, NaN],
    ];
    const r = readOne('BF16', u16le(cases.map((c) => c[0])), cases.length);
    expect(r.dtype).toBe('float32');
    expectSame(r.values, cases.map((c) => c[1]));
  });

  it('F32 and F64 bit-exact, subnormals and −0 included', () => {
    const f32 = [1.5, -0, 2 ** -149, 3.4028234663852886e38, -Infinity].map(Math.fround);
    const r32 = readOne('F32', new Uint8Array(Float32Array.from(f32).buffer), f32.length);
    expect(r32.dtype).toBe('float32');
    expectSame(r32.values, f32);
    const f64 = [Math.PI, -0, 5e-324, -1e308, 0.1];
    const r64 = readOne('F64', new Uint8Array(Float64Array.from(f64).buffer), f64.length);
    expect(r64.dtype).toBe('float64');
    expectSame(r64.values, f64);
  });

  it('integers load as int32: I32, I64 (range-checked), I16, U16, I8, U8, U32 and BOOL', () => {
    const le = (bytesPer: number, values: bigint[]) => {
      const out = new Uint8Array(bytesPer * values.length);
      values.forEach((v, i) => { let x = BigInt.asUintN(8 * bytesPer, v); for (let b = 0; b < bytesPer; b++) { out[i * bytesPer + b] = Number(x & 0xffn); x >>= 8n; } });
      return out;
    };
    const cases: [string, number, number[]][] = [
      ['I32', 4, [0, -5, 7, 2147483647, -2147483648]],
      ['I64', 8, [0, 1, -1, 2147483647, -2147483648]],
      ['I16', 2, [0, -32768, 32767, -2]],
      ['U16', 2, [0, 65535, 256]],
      ['I8', 1, [0, -128, 127, -1]],
      ['U8', 1, [0, 1, 200, 255]],
      ['U32', 4, [0, 2147483647]],
      ['BOOL', 1, [0, 1, 1, 0]],
    ];
    for (const [dtype, size, values] of cases) {
      const r = readOne(dtype, le(size, values.map(BigInt)), values.length);
      expect(r.dtype, dtype).toBe('int32');
      expect(r.values, dtype).toEqual(values);
    }
    // out of int32 range, and a BOOL byte that is neither 0 nor 1: errors naming file, tensor and value
    expect(() => readOne('I64', le(8, [2n ** 31n]), 1)).toThrow(/x\.safetensors: .*'t' \(I64\) holds 2147483648, outside int32/);
    expect(() => readOne('I64', le(8, [-(2n ** 31n) - 1n]), 1)).toThrow(/'t' \(I64\) holds -2147483649, outside int32/);
    expect(() => readOne('U32', le(4, [2n ** 31n]), 1)).toThrow(/'t' \(U32\) holds 2147483648, outside int32/);
    expect(() => readOne('U64', le(8, [2n ** 32n]), 1)).toThrow(/'t' \(U64\) holds 4294967296, outside int32/);
    expect(() => readOne('BOOL', Uint8Array.of(0, 2), 2)).toThrow(/x\.safetensors: .*'t' \(BOOL\) holds 2, not 0 or 1/);
  });

  it('a file with one U8 or one BOOL tensor (issue 16) reads', () => {
    for (const dtype of ['U8', 'BOOL']) {
      const f = decodeSafetensors(file([{ name: 'mask', dtype, shape: [2, 2], bytes: Uint8Array.of(1, 0, 0, 1) }]), 'mask.safetensors');
      expect(f.tensors.get('mask')).toEqual({ dtype: 'int32', shape: [2, 2], data: Int32Array.of(1, 0, 0, 1) });
    }
  });
});

describe('safetensors: dtypes the engine cannot hold', () => {
  const f8 = { name: 'scale', dtype: 'F8_E4M3', shape: [2], bytes: Uint8Array.of(0x38, 0x40) };
  const w = { name: 'w', dtype: 'F32', shape: [3], bytes: new Uint8Array(Float32Array.of(1, 2, 3).buffer) };

  it('strict (the default): an error naming the file, the tensor and the dtype', () => {
    expect(() => decodeSafetensors(file([w, f8]), 'q.safetensors')).toThrow(/q\.safetensors: .*tensor 'scale' has unsupported dtype "F8_E4M3"/);
  });

  it('not strict: skipped with a warning naming them, the other tensors read; the byte layout is still checked', () => {
    const warnings: string[] = [];
    const f = decodeSafetensors(file([w, f8]), 'q.safetensors', { strict: false, warn: (m) => warnings.push(m) });
    expect([...f.tensors.keys()]).toEqual(['w']);
    expect(Array.from(f.tensors.get('w')!.data)).toEqual([1, 2, 3]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/q\.safetensors: .*skipping tensor 'scale' of unsupported dtype "F8_E4M3"/);
    const truncated = file([w, f8]).subarray(0, file([w, f8]).length - 1);
    expect(() => decodeSafetensors(truncated, 'q.safetensors', { strict: false, warn: () => {} })).toThrow(/'scale' data_offsets \[12, 14\] are outside the 13 data bytes/);
  });

  describe('through loadModel', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxgrad-st-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const model = () => new Linear(2, 1, { seed: 1, backend: cpu });
    const weights = [
      { name: 'weight', dtype: 'F32', shape: [1, 2], bytes: new Uint8Array(Float32Array.of(0.5, -2).buffer) },
      { name: 'bias', dtype: 'F32', shape: [1], bytes: new Uint8Array(Float32Array.of(0.25).buffer) },
    ];

    it('an extra U8 / BOOL tensor loads with strict: false (an unexpected key) and is named with strict', async () => {
      for (const dtype of ['U8', 'BOOL']) {
        const path = join(dir, `${dtype}.safetensors`);
        writeFileSync(path, file([...weights, { name: 'mask', dtype, shape: [2], bytes: Uint8Array.of(1, 0) }]));
        const m = model();
        const r = await loadModel(path, m, { strict: false });
        expect(r.unexpectedKeys).toEqual(['mask']);
        expect(Array.from(await m.weight.toArray())).toEqual([0.5, -2]);
        await expect(loadModel(path, model())).rejects.toThrow(/unexpected keys: mask/);
      }
    });

    it('an F8 tensor: skipped with a warning with strict: false, an error naming file, tensor and dtype with strict', async () => {
      const path = join(dir, 'f8.safetensors');
      writeFileSync(path, file([...weights, f8]));
      const warnings: string[] = [];
      const m = model();
      const r = await loadModel(path, m, { strict: false, warn: (msg) => warnings.push(msg) });
      expect(r.unexpectedKeys).toEqual([]);
      expect(Array.from(await m.bias!.toArray())).toEqual([0.25]);
      expect(warnings.join('\n')).toMatch(/f8\.safetensors: .*'scale' .*"F8_E4M3"/);
      await expect(loadModel(path, model())).rejects.toThrow(/f8\.safetensors: .*tensor 'scale' has unsupported dtype "F8_E4M3"/);
    });
  });
});

/** a file with the given header text (not JSON-encoded here) and `data` bytes after it */
function raw(header: string | Uint8Array, data = 0, lengthField?: number): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthField ?? h.length), true);
  out.set(h, 8);
  return out;
}

describe('safetensors: the header and the byte layout are validated, naming the file', () => {
  const decode = (b: Uint8Array) => decodeSafetensors(b, 'h.safetensors');
  const f32 = (name: string, from: number, to: number) => `"${name}":{"dtype":"F32","shape":[${(to - from) / 4}],"data_offsets":[${from},${to}]}`;

  it('the header length: 8 bytes of it at least, at most the bytes that follow', () => {
    expect(() => decode(new Uint8Array(7))).toThrow(/h\.safetensors: .*7 bytes, too short/);
    expect(() => decodeSafetensors(new Uint8Array(7))).toThrow(/^safetensors data: not a valid safetensors file: 7 bytes/);
    // exactly 8 bytes: a header of length 0, which is no JSON (not "too short")
    expect(() => decode(new Uint8Array(8))).toThrow(/h\.safetensors: .*JSON header does not parse/);
    expect(decode(raw('{}')).tensors.size).toBe(0);
    expect(() => decode(raw('{}', 0, 3))).toThrow(/h\.safetensors: .*header length 3 exceeds the 2 bytes after it/);
  });

  it('the JSON header: strict UTF-8, an object, __metadata__ an object of strings', () => {
    const bad = Uint8Array.from([...new TextEncoder().encode('{"__metadata__":{"k":"'), 0xff, ...new TextEncoder().encode('"}}')]);
    expect(() => decode(raw(bad))).toThrow(/h\.safetensors: .*JSON header does not parse/);
    for (const h of ['null', '"s"', '5', '[1]']) expect(() => decode(raw(h)), h).toThrow(/h\.safetensors: .*the header is not a JSON object/);
    for (const m of ['null', '"s"', '[1]']) expect(() => decode(raw(`{"__metadata__":${m}}`)), m).toThrow(/__metadata__ is not an object/);
    expect(() => decode(raw('{"__metadata__":{"a":"x","b":1}}'))).toThrow(/__metadata__\.b is not a string/);
    expect(decode(raw('{"__metadata__":{"a":"x"}}')).metadata).toEqual({ a: 'x' });
  });

  it('each entry: an object with a dtype string, a shape of sizes ≥ 0 and two offsets in order', () => {
    for (const e of ['null', '5']) expect(() => decode(raw(`{"w":${e}}`)), e).toThrow(/h\.safetensors: .*entry 'w' is not an object/);
    expect(() => decode(raw('{"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}', 4))).toThrow(/tensor 'w' has no dtype string \(5\)/);
    for (const off of ['[0]', '[0,4,8]', '[-4,0]', '[0,4.5]', '"0,4"']) {
      expect(() => decode(raw(`{"w":{"dtype":"F32","shape":[1],"data_offsets":${off}}}`, 4)), off).toThrow(/tensor 'w' has invalid data_offsets/);
    }
    expect(() => decode(raw('{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}', 4))).toThrow(/'w' data_offsets \[4, 0\] are outside the 4 data bytes/);
    // an empty tensor: shape [0], offsets [0, 0]
    const empty = decode(raw('{"w":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]}}')).tensors.get('w')!;
    expect(empty.shape).toEqual([2, 0]);
    expect(empty.data.length).toBe(0);
    expect(() => decode(raw('{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,8]}}', 8))).toThrow(/tensor 'w' of shape \[2\] F32 needs 8 bytes, its offsets span 4$/);
  });

  it('the tensors tile the data in any header order; a hole or an overlap is an error', () => {
    // listed out of order in the header
    const f = decode(raw(`{${f32('b', 4, 8)},${f32('a', 0, 4)}}`, 8));
    expect([...f.tensors.keys()].sort()).toEqual(['a', 'b']);
    // an empty tensor at the offset where a non-empty one starts (ties sorted by their end)
    const e = decode(raw(`{${f32('a', 0, 4)},"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, 4));
    expect(e.tensors.get('e')!.data.length).toBe(0);
    expect(() => decode(raw(`{${f32('a', 0, 4)},${f32('b', 8, 12)}}`, 12))).toThrow(/h\.safetensors: .*tensor 'b' starts at 8, expected 4 \(overlap or hole/);
    expect(() => decode(raw(`{${f32('a', 0, 8)},${f32('b', 4, 8)}}`, 8))).toThrow(/tensor 'b' starts at 4, expected 8/);
  });
});

describe('safetensors: the writer', () => {
  const t = (data: number[]): HostTensor => ({ dtype: 'float32', shape: [data.length], data: Float32Array.from(data) });
  const headerOf = (bytes: Uint8Array) => {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    return { n, text: new TextDecoder().decode(bytes.subarray(8, 8 + n)) };
  };

  it('writes __metadata__ only when there is some, pads the header with fewer than 8 spaces', () => {
    const { n, text } = headerOf(encodeSafetensors(new Map([['w', t([1, 2])]])));
    expect(JSON.parse(text)).toEqual({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    expect(n % 8).toBe(0);
    expect(n - text.trimEnd().length).toBeLessThan(8);
  });

  it('rejects non-string metadata, a tensor named __metadata__ and data that does not fit the shape', () => {
    expect(() => encodeSafetensors(new Map([['w', t([1])]]), { k: 1 as unknown as string })).toThrow(/safetensors: metadata 'k' must be a string/);
    expect(() => encodeSafetensors(new Map([['__metadata__', t([1])]]))).toThrow(/"__metadata__" is not a tensor name/);
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]]))).toThrow(/safetensors: w has 2 values for shape \[3\]/);
  });
});

describe('safetensors: warnings of strict: false go to console.warn by default', () => {
  it('names the file, the tensor and the dtype', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      decodeSafetensors(raw('{"q":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}}', 2), 'w.safetensors', { strict: false });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]![0])).toMatch(/w\.safetensors: skipping tensor 'q' of unsupported dtype "F8_E5M2"/);
    } finally {
      spy.mockRestore();
    }
  });
});
