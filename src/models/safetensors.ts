import type { DType, TypedArray } from '../kernels/backend.js';
import { formatShape, sizeOf } from '../tensor/shape.js';

/**
 * The safetensors format (huggingface/safetensors): 8 bytes little-endian u64 N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}` padded with spaces to
 * a multiple of 8, then the raw little-endian data; offsets are relative to the end of the header and the
 * tensors tile the data without holes. Written here: F32, I32, F64. Read: those plus F16 and BF16 (as float32)
 * and every integer dtype, BOOL included, as int32 (the engine's one integer dtype; checked in range, e.g.
 * PyTorch's I64 num_batches_tracked; a BOOL byte must be 0 or 1). Other dtypes (the F8 formats, complex, …)
 * are an error naming the file, the tensor and the dtype, or with `strict: false` skipped with a warning.
 */

export type SafetensorsDType = 'F32' | 'I32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'U64' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const writeCode: Record<DType, SafetensorsDType> = { float32: 'F32', int32: 'I32', float64: 'F64' };
const itemBytes: Record<SafetensorsDType, number> = {
  F32: 4, I32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, U64: 8, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};
/** the integer dtypes other than I32, read element by element into int32 */
const integerReaders: Partial<Record<SafetensorsDType, (dv: DataView, at: number) => number | bigint>> = {
  I64: (dv, at) => dv.getBigInt64(at, true), U64: (dv, at) => dv.getBigUint64(at, true), U32: (dv, at) => dv.getUint32(at, true),
  I16: (dv, at) => dv.getInt16(at, true), U16: (dv, at) => dv.getUint16(at, true), I8: (dv, at) => dv.getInt8(at),
  U8: (dv, at) => dv.getUint8(at), BOOL: (dv, at) => dv.getUint8(at),
};

export interface DecodeOptions {
  /** an error for a tensor of a dtype the engine cannot hold (default); false skips it with a warning */
  strict?: boolean;
  /** where the warnings of `strict: false` go (default console.warn) */
  warn?: (message: string) => void;
}
const MAX_HEADER = 100_000_000;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('safetensors: a big-endian host is not supported');

/** Serialises tensors (in the given order) and string metadata. */
export function encodeSafetensors(tensors: ReadonlyMap<string, HostTensor> | Iterable<[string, HostTensor]>,
  metadata: Record<string, string> = {}): Uint8Array {
  const entries = [...tensors];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is not a tensor name');
    if (t.data.length !== sizeOf(t.shape)) {
      throw new Error(`safetensors: ${name} has ${t.data.length} values for shape ${formatShape(t.shape)}`);
    }
    const code = writeCode[t.dtype];
    const bytes = t.data.length * itemBytes[code];
    header[name] = { dtype: code, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const jsonBytes = new TextEncoder().encode(json);
  const padded = Math.ceil(jsonBytes.length / 8) * 8;
  json += ' '.repeat(padded - jsonBytes.length);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + padded;
  for (const [, t] of entries) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, at);
    at += raw.length;
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Parses a safetensors file; `name` (the file) is named in every error and warning. */
export function decodeSafetensors(bytes: Uint8Array, name = 'safetensors data', options: DecodeOptions = {}): SafetensorsFile {
  const strict = options.strict ?? true, warn = options.warn ?? ((message: string) => console.warn(message));
  const fail = (what: string): never => { throw new Error(`${name}: not a valid safetensors file: ${what}`); };
  if (bytes.length < 8) fail(`${bytes.length} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    fail(`header length ${n64} exceeds the ${bytes.length - 8} bytes after it (truncated or corrupt file)`);
  }
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`the JSON header does not parse (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + n, dataLength = bytes.length - dataStart;
  const tensors = new Map<string, HostTensor>();
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__.${mk} is not a string`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (info === null || typeof info !== 'object') fail(`entry '${key}' is not an object`);
    const code = info!.dtype as SafetensorsDType;
    if (typeof code !== 'string') fail(`tensor '${key}' has no dtype string (${JSON.stringify(info!.dtype)})`);
    const shape = info!.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${key}' has an invalid shape ${JSON.stringify(shape)}`);
    const off = info!.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor '${key}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const count = sizeOf(shape as number[]);
    if (end < begin || end > dataLength) fail(`tensor '${key}' data_offsets [${begin}, ${end}] are outside the ${dataLength} data bytes (truncated or corrupt file)`);
    if (!Object.hasOwn(itemBytes, code)) {
      const what = `tensor '${key}' has unsupported dtype ${JSON.stringify(code)} (readable: ${Object.keys(itemBytes).join(', ')})`;
      if (strict) throw new Error(`${name}: ${what}; pass strict: false to skip it`);
      warn(`${name}: skipping tensor '${key}' of unsupported dtype ${JSON.stringify(code)}`);
      spans.push([begin, end, key]);
      continue;
    }
    if (end - begin !== count * itemBytes[code]) {
      fail(`tensor '${key}' of shape ${formatShape(shape as number[])} ${code} needs ${count * itemBytes[code]} bytes, its offsets span ${end - begin}`);
    }
    spans.push([begin, end, key]);
    const raw = new Uint8Array(end - begin); // a copy (aligned; a Node Buffer's slice would share its pool)
    raw.set(bytes.subarray(dataStart + begin, dataStart + end));
    let data: TypedArray;
    let dtype: DType;
    switch (code) {
      case 'F32': data = new Float32Array(raw.buffer); dtype = 'float32'; break;
      case 'F64': data = new Float64Array(raw.buffer); dtype = 'float64'; break;
      case 'I32': data = new Int32Array(raw.buffer); dtype = 'int32'; break;
      case 'I64': case 'U64': case 'U32': case 'I16': case 'U16': case 'I8': case 'U8': case 'BOOL': {
        const read = integerReaders[code]!, dv = new DataView(raw.buffer), size = itemBytes[code];
        data = new Int32Array(count);
        for (let i = 0; i < count; i++) {
          const v = read(dv, i * size);
          if (v > 2147483647 || v < -2147483648) fail(`tensor '${key}' (${code}) holds ${v}, outside int32`);
          if (code === 'BOOL' && v > 1) fail(`tensor '${key}' (BOOL) holds ${v}, not 0 or 1`);
          data[i] = Number(v);
        }
        dtype = 'int32';
        break;
      }
      case 'F16': case 'BF16': {
        const u16 = new Uint16Array(raw.buffer);
        const f = new Float32Array(count);
        const u32 = new Uint32Array(f.buffer);
        for (let i = 0; i < count; i++) {
          if (code === 'BF16') u32[i] = u16[i] << 16;
          else f[i] = halfToFloat(u16[i]);
        }
        data = f; dtype = 'float32';
        break;
      }
    }
    tensors.set(key, { dtype, shape: [...(shape as number[])], data });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, key] of spans) {
    if (begin !== at) fail(`tensor '${key}' starts at ${begin}, expected ${at} (overlap or hole in the data)`);
    at = end;
  }
  if (at !== dataLength) fail(`the tensors cover ${at} of ${dataLength} data bytes`);
  return { tensors, metadata };
}
