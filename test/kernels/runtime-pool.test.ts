import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { gpuBuffer, sizeClass } from '../../src/kernels/webgpu/runtime.js';
import { webgpu } from '../helpers/backends.js';

/** The WebGPU buffer pool: immediate, queue-ordered reuse and best fit within 2×. */

async function gpuBackend(): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return gpu;
}

describe('webgpu buffer pool', () => {
  it('a storage freed twice is an error, also after its buffer went to a new storage', async () => {
    const gpu = await gpuBackend();
    gpu.rt.trim();
    const a = gpu.alloc(12345, 'float32');
    gpu.free(a);
    expect(() => gpu.free(a)).toThrow(/freed twice/);
    const b = gpu.alloc(12345, 'float32');
    expect(gpuBuffer(b)).toBe(gpuBuffer(a));
    const live = gpu.memory().liveBuffers;
    expect(() => gpu.free(a)).toThrow(/freed twice/); // b's buffer stays b's
    expect(gpu.memory().liveBuffers).toBe(live);
    gpu.free(b);
  });

  it('size classes: 16-byte multiples, powers of two up to 1 MiB, then eighths of an octave', () => {
    const byLog2 = (bytes: number): number => {
      const b = Math.max(16, Math.ceil(bytes / 16) * 16);
      const pow = 2 ** Math.ceil(Math.log2(b));
      return pow <= 1 << 20 ? pow : Math.ceil(b / (pow / 16)) * (pow / 16);
    };
    fc.assert(fc.property(fc.oneof(fc.integer({ min: 0, max: 1 << 21 }), fc.integer({ min: 0, max: 2 ** 34 })), (bytes) => {
      expect(sizeClass(bytes)).toBe(byLog2(bytes));
    }));
    for (let k = 4; k <= 33; k++) for (const d of [-1, 0, 1]) expect(sizeClass(2 ** k + d)).toBe(byLog2(2 ** k + d));
  });

  it('a buffer freed while a recorded dispatch still reads it is reused by the next dispatch, and the read sees the old values', async () => {
    const gpu = await gpuBackend();
    const n = 1 << 16;
    const a = gpu.upload(new Float32Array(n).map((_, i) => i), 'float32');
    const negated = gpu.unary('neg', { storage: a, shape: [n], strides: [1], offset: 0 });
    const buffer = gpuBuffer(a);
    gpu.free(a); // the neg dispatch is recorded, not submitted
    const overwritten = gpu.unary('exp', { storage: negated, shape: [n], strides: [1], offset: 0 });
    // the exp output took a's buffer (same size class) before anything was submitted
    expect(gpuBuffer(overwritten)).toBe(buffer);
    const back = await gpu.read(negated);
    for (let i = 0; i < n; i += 997) expect(back[i]).toBe(-i);
    const e = await gpu.read(overwritten);
    expect(e[3]).toBeCloseTo(Math.exp(-3), 6);
    gpu.free(negated);
    gpu.free(overwritten);
  });

  it('a request takes an idle buffer of its class, else the smallest idle one at most twice as large', async () => {
    const gpu = await gpuBackend();
    gpu.rt.trim();
    const mib = 2 ** 20 / 4; // float32 elements in 1 MiB
    const big = gpu.alloc(4 * mib, 'float32'), mid = gpu.alloc(3 * mib, 'float32');
    const bigBuffer = gpuBuffer(big), midBuffer = gpuBuffer(mid);
    gpu.free(big);
    gpu.free(mid);
    const before = gpu.memory().pooledBytes;
    expect(before).toBe(sizeClass(16 * mib) + sizeClass(12 * mib));
    // 2.5 MiB: no idle buffer of its class; 3 MiB is the smallest idle one within 2×
    const a = gpu.alloc(2.5 * mib, 'float32');
    expect(gpuBuffer(a)).toBe(midBuffer);
    // 1 MiB: the remaining 4 MiB buffer is more than twice as large, so a new buffer is created
    const b = gpu.alloc(mib, 'float32');
    expect(gpuBuffer(b)).not.toBe(bigBuffer);
    expect(gpu.memory().pooledBytes).toBe(sizeClass(16 * mib));
    // live bytes count the whole buffers a tensor holds
    expect(gpu.memory().liveBytes).toBeGreaterThanOrEqual(sizeClass(12 * mib) + sizeClass(4 * mib));
    gpu.free(a);
    gpu.free(b);
  });

  it('best fit never hands out a buffer past the storage-binding limit (kernels bind whole buffers)', async () => {
    const gpu = await gpuBackend();
    gpu.rt.trim();
    const limit = gpu.rt.limits.maxStorageBufferBindingSize;
    const over = gpu.alloc(Math.floor((1.25 * limit) / 4), 'float32'); // a buffer the binding limit excludes
    const overBuffer = gpuBuffer(over);
    gpu.free(over);
    const request = gpu.alloc(Math.floor((0.75 * limit) / 4), 'float32'); // within 2× of it, but bindable only alone
    expect(gpuBuffer(request)).not.toBe(overBuffer);
    expect(gpuBuffer(request).size).toBeLessThanOrEqual(limit);
    gpu.free(request);
    gpu.rt.trim();
  });

  it('peakReservedBytes follows live + pooled, peakRequestedBytes the storages\' own sizes; resetPeak starts again from the current footprint', async () => {
    const gpu = await gpuBackend();
    gpu.rt.trim();
    gpu.rt.resetPeak();
    const start = gpu.memory(), startRequested = gpu.rt.peakRequestedBytes;
    expect(gpu.rt.peakReservedBytes).toBe(start.liveBytes + start.pooledBytes);
    const mib = 2 ** 20 / 4;
    const a = gpu.alloc(8 * mib, 'float32');
    gpu.free(a);
    const b = gpu.alloc(8 * mib, 'float32'); // reused: the reserved peak does not grow
    expect(gpu.rt.peakReservedBytes).toBe(start.liveBytes + start.pooledBytes + sizeClass(32 * mib));
    const c = gpu.alloc(8 * mib, 'float32'); // a second live one: a new buffer
    expect(gpu.rt.peakReservedBytes).toBe(start.liveBytes + start.pooledBytes + 2 * sizeClass(32 * mib));
    expect(gpu.peakMemory()).toBe(start.liveBytes + 2 * sizeClass(32 * mib));
    // what the storages asked for, without the size classes' rounding: a 1001-element request counts 4004 bytes
    const odd = gpu.alloc(1001, 'float32');
    expect(gpu.rt.peakRequestedBytes).toBe(startRequested + 2 * 4 * (8 * mib) + 4 * 1001);
    gpu.free(odd);
    gpu.free(b);
    gpu.free(c);
  });
});
