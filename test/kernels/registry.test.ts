import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { kernelFamilies } from '../../src/kernels/registry.js';
import { view, webgpu } from '../helpers/backends.js';

const methods = kernelFamilies.flatMap((f) => Object.keys(f.cpu));

describe('the kernel registry', () => {
  it('each family names the same methods for cpu and WebGPU; no method and no name comes twice', () => {
    for (const f of kernelFamilies) expect(Object.keys(f.webgpu).sort(), f.name).toEqual(Object.keys(f.cpu).sort());
    expect(new Set(methods).size).toBe(methods.length);
    expect(new Set(kernelFamilies.map((f) => f.name)).size).toBe(kernelFamilies.length);
  });

  it("both backends hold every family's methods as their own, bound per backend", async () => {
    const gpu = await webgpu(), cpu = new CpuBackend(), otherCpu = new CpuBackend();
    for (const m of methods) {
      for (const b of [cpu, gpu]) expect(Object.getOwnPropertyDescriptor(b, m)?.value, `${b.name}.${m}`).toBeTypeOf('function');
      expect(Object.getOwnPropertyDescriptor(cpu, m)?.value).not.toBe(Object.getOwnPropertyDescriptor(otherCpu, m)?.value);
    }
  });

  it('the cpu backend tracks what its kernels return: a storage, an object of storages, nothing from in-place kernels', async () => {
    const cpu = new CpuBackend();
    const x = cpu.upload(Float32Array.of(1, 2, 3, 4), 'float32');
    const { mean, variance } = cpu.moments(x, { outer: 1, channels: 2, inner: 2 });
    expect(cpu.memory().liveBuffers).toBe(3);
    const y = cpu.unary('neg', view(x, [4]));
    expect(cpu.memory()).toMatchObject({ liveBuffers: 4, liveBytes: 4 * 4 + 2 * 4 + 2 * 4 + 4 * 4 });
    cpu.copyInto(view(x, [4]), view(y, [4]));
    expect(cpu.memory().liveBuffers).toBe(4);
    expect(Array.from(await cpu.read(x))).toEqual([-1, -2, -3, -4]);
    for (const s of [x, mean, variance, y]) cpu.free(s);
    expect(cpu.memory()).toEqual({ liveBuffers: 0, liveBytes: 0, pooledBuffers: 0, pooledBytes: 0 });
  });
});
