import type { DType, TypedArray } from '../kernels/backend.js';
import { formatShape, sizeOf } from '../tensor/shape.js';

/**
 * The safetensors format (huggingface/safetensors): 8 bytes little-endian u64 N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}` padded with spaces to
 * a multiple of 8, then the raw little-endian data; offsets are relative to the end of the header and the
 * tensors tile the data without holes. Written here: F32, I32, F64. Read: those plus I64 (as int32, checked in
 * range: PyTorch's num_batches_tracked), F16 and BF16 (as float32).
 */

export type SafetensorsDType = 'F32' | 'I32' | 'F64' | 'I64' | 'F16' | 'BF16';

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
const itemBytes: Record<SafetensorsDType, number> = { F32: 4, I32: 4, F64: 8, I64: 8, F16: 2, BF16: 2 };
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

/** Parses a safetensors file; `name` (the file) is named in every error. */
export function decodeSafetensors(bytes: Uint8Array, name = 'safetensors data'): SafetensorsFile {
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
    if (typeof code !== 'string' || !(code in itemBytes)) fail(`tensor '${key}' has unsupported dtype ${JSON.stringify(info!.dtype)} (supported: ${Object.keys(itemBytes).join(', ')})`);
    const shape = info!.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${key}' has an invalid shape ${JSON.stringify(shape)}`);
    const off = info!.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor '${key}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const count = sizeOf(shape as number[]);
    if (end < begin || end > dataLength) fail(`tensor '${key}' data_offsets [${begin}, ${end}] are outside the ${dataLength} data bytes (truncated or corrupt file)`);
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
      case 'I64': {
        const big = new BigInt64Array(raw.buffer);
        data = new Int32Array(count);
        for (let i = 0; i < count; i++) {
          if (big[i] > 2147483647n || big[i] < -2147483648n) fail(`tensor '${key}' (I64) holds ${big[i]}, outside int32`);
          data[i] = Number(big[i]);
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
