import { describe, expect, it } from 'vitest';
import { WebGPUBackend, type Storage } from '../../src/kernels/index.js';
import { bindingTypes, gpuBuffer, Params, type GpuRuntime, type Kernel } from '../../src/kernels/webgpu/runtime.js';
import { webgpu } from '../helpers/backends.js';

/** The WebGPU runtime's parameter slots, bind-group cache and the pool's order by buffer id. */

async function gpuBackend(): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return gpu;
}

const view = (s: Storage, n: number) => ({ storage: s, shape: [n], strides: [1], offset: 0 });

/** x ← x · scale + shift, in place: the result depends on every block and on their order */
function scaleShift(rt: GpuRuntime, name: string): Kernel {
  return rt.kernel(`test:scale-shift:${name}`, () => `
struct Params { scale: f32, shift: f32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> P: Params;
@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) gid: vec3<u32>) { x[gid.x] = x[gid.x] * P.scale + P.shift; }`, 1);
}

describe('webgpu runtime: parameter slots and cached bind groups', () => {
  it('a repeated iteration gets the same buffers and creates no bind group', async () => {
    const gpu = await gpuBackend();
    gpu.rt.trim();
    const n = 1000;
    // two same-size temporaries freed in allocation order: plain LIFO reuse would swap their buffers every iteration
    const iteration = async (): Promise<{ buffers: GPUBuffer[]; values: ArrayLike<number> }> => {
      const a = gpu.fill(n, 0.5, 'float32');
      const b = gpu.unary('exp', view(a, n));
      const c = gpu.binary('add', view(a, n), view(b, n));
      const buffers = [gpuBuffer(a), gpuBuffer(b), gpuBuffer(c)];
      gpu.free(a);
      gpu.free(b);
      const values = await gpu.read(c);
      gpu.free(c);
      return { buffers, values };
    };
    await iteration(); // creates the buffers
    const settled = await iteration();
    const created = gpu.rt.bindGroupsCreated;
    for (let i = 0; i < 3; i++) {
      const again = await iteration();
      again.buffers.forEach((buffer, k) => expect(buffer === settled.buffers[k]).toBe(true));
      expect(again.values[7]).toBeCloseTo(0.5 + Math.exp(0.5), 6);
    }
    expect(gpu.rt.bindGroupsCreated).toBe(created);
    // plain LIFO reuse would swap the two temporaries' buffers each iteration
    expect(settled.buffers[0] === settled.buffers[1]).toBe(false);
  });

  it('more distinct parameter blocks than slots: the slots start over and every dispatch still reads its own', async () => {
    const gpu = await gpuBackend();
    const count = 2100; // the uniform buffer holds 2048 blocks
    const filled = Array.from({ length: count }, (_, i) => gpu.fill(4, i + 0.25, 'float32'));
    for (const i of [0, 1, 2046, 2047, 2048, 2049, count - 1]) {
      expect(Array.from(await gpu.read(filled[i]!))).toEqual([i + 0.25, i + 0.25, i + 0.25, i + 0.25]);
    }
    // the same block again reuses its slot: the values stay right after the start-over too
    const again = gpu.fill(4, 3.25, 'float32');
    expect(Array.from(await gpu.read(again))).toEqual([3.25, 3.25, 3.25, 3.25]);
    for (const s of [...filled, again]) gpu.free(s);
  });

  it('a kernel whose parameters change on every call creates no bind group after its second', async () => {
    const gpu = await gpuBackend();
    const n = 64;
    const a = gpu.fill(n, 2, 'float32');
    const affine = (slope: number): Storage => gpu.unary('affine', view(a, n), [slope, 1]);
    gpu.free(affine(0.125)); // the output's buffer, and the bind group of (affine, a, that buffer) for this block's slot
    gpu.free(affine(0.25)); // a second block for the same buffers: the kernel binds its uniform at a dynamic offset now
    const created = gpu.rt.bindGroupsCreated;
    for (let step = 1; step <= 20; step++) { // a new parameter block each time, as Adam's bias corrections
      const y = affine(step + 0.5);
      expect((await gpu.read(y))[n - 1]).toBe(2 * (step + 0.5) + 1);
      gpu.free(y);
    }
    expect(gpu.rt.bindGroupsCreated).toBe(created);
    gpu.free(a);
  });

  it('dispatches recorded in one encoder with different parameters each read their own block', async () => {
    const gpu = await gpuBackend();
    const kernel = scaleShift(gpu.rt, 'encoder');
    const x = gpu.fill(8, 1, 'float32'); // a dispatch too: nothing is submitted until the read
    const created = gpu.rt.bindGroupsCreated;
    // the first binds its block's slot; the second switches the kernel to a dynamic offset, which the third reuses
    for (const [scale, shift] of [[2, 1], [3, -2], [0.5, 0.25]]) {
      gpu.rt.dispatch(kernel, [gpuBuffer(x)], new Params().f32(scale!, shift!).done(), [2]);
    }
    expect(kernel.dynamic).toBe(true);
    expect(gpu.rt.bindGroupsCreated).toBe(created + 2);
    expect(Array.from(await gpu.read(x))).toEqual(Array(8).fill(((1 * 2 + 1) * 3 - 2) * 0.5 + 0.25));
    gpu.free(x);
  });

  it('running out of slots neither recreates the bind group nor mixes up the blocks', async () => {
    const gpu = await gpuBackend();
    const kernel = scaleShift(gpu.rt, 'slots');
    const x = gpu.fill(4, 0, 'float32');
    for (const shift of [0, 0.5]) gpu.rt.dispatch(kernel, [gpuBuffer(x)], new Params().f32(1, shift).done(), [1]);
    const created = gpu.rt.bindGroupsCreated;
    const count = 2100; // more blocks than the uniform buffer's 2048 slots, all before one read
    for (let i = 1; i <= count; i++) gpu.rt.dispatch(kernel, [gpuBuffer(x)], new Params().f32(1, i).done(), [1]);
    expect(gpu.rt.bindGroupsCreated).toBe(created);
    expect(Array.from(await gpu.read(x))).toEqual(Array(4).fill(0.5 + (count * (count + 1)) / 2)); // exact in f32
    gpu.free(x);
  });

  it('a kernel whose buffers each come with one parameter block keeps binding the slots', async () => {
    const gpu = await gpuBackend();
    const kernel = scaleShift(gpu.rt, 'static');
    const x = gpu.fill(4, 1, 'float32'), y = gpu.fill(4, 1, 'float32');
    const created = gpu.rt.bindGroupsCreated;
    for (let round = 0; round < 3; round++) {
      gpu.rt.dispatch(kernel, [gpuBuffer(x)], new Params().f32(2, 0).done(), [1]);
      gpu.rt.dispatch(kernel, [gpuBuffer(y)], new Params().f32(1, 3).done(), [1]);
    }
    expect(kernel.dynamic).toBe(false);
    expect(gpu.rt.bindGroupsCreated).toBe(created + 2);
    expect(Array.from(await gpu.read(x))).toEqual([8, 8, 8, 8]);
    expect(Array.from(await gpu.read(y))).toEqual([10, 10, 10, 10]);
    gpu.free(x);
    gpu.free(y);
  });

  it('dispatches that differ only in the order of their buffers get their own bind groups, in their parameters their own slots', async () => {
    const gpu = await gpuBackend();
    const a = gpu.fill(8, 5, 'float32'), b = gpu.fill(8, 2, 'float32');
    const results: number[] = [];
    for (let round = 0; round < 2; round++) { // the second round finds every bind group cached
      for (const [p, q] of [[a, b], [b, a]] as const) {
        const d = gpu.binary('sub', view(p, 8), view(q, 8));
        results.push((await gpu.read(d))[3]!);
        gpu.free(d);
      }
      for (const slope of [0.5, 0.25]) {
        const d = gpu.unary('affine', view(a, 8), [slope, 1]);
        results.push((await gpu.read(d))[3]!);
        gpu.free(d);
      }
    }
    expect(results).toEqual([3, -3, 3.5, 2.25, 3, -3, 3.5, 2.25]);
    gpu.free(a);
    gpu.free(b);
  });

  it('a parameter buffer not from Params is read by its bytes at each dispatch, even when the caller changes it', async () => {
    const gpu = await gpuBackend();
    const kernel = gpu.rt.kernel('test:write-param', () => `
struct Params { value: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> P: Params;
@compute @workgroup_size(1) fn main() { out[0] = P.value; }`, 1);
    const params = new Float32Array(4);
    const values: number[] = [];
    for (const value of [1.5, 2.5, 1.5]) {
      params[0] = value;
      const s = gpu.alloc(1, 'float32');
      gpu.rt.dispatch(kernel, [gpuBuffer(s)], params.buffer, [1]);
      values.push((await gpu.read(s))[0]!);
      gpu.free(s);
    }
    expect(values).toEqual([1.5, 2.5, 1.5]);
  });

  it('reads the bind group layout from the WGSL declarations, and refuses what the runtime cannot bind', () => {
    const declare = (...lines: string[]): string => lines.map((l, i) => `@group(0) @binding(${i}) var<${l}> b${i}: array<f32>;`).join('\n');
    expect(bindingTypes('k', declare('storage, read', 'storage,read_write', 'storage', 'uniform'), 3)).toEqual(['read', 'read_write', 'read', 'uniform']);
    expect(bindingTypes('k', declare('storage, read_write'), 1)).toEqual(['read_write']);
    expect(() => bindingTypes('k', declare('storage, read', 'uniform'), 2)).toThrow(/kernel k must declare storage buffers at bindings 0…1/);
    expect(() => bindingTypes('k', declare('uniform', 'storage, read'), 1)).toThrow(/got \[uniform, read\]/);
    expect(() => bindingTypes('k', '@group(0) @binding(1) var<storage, read> b: array<f32>;', 2)).toThrow(/got \[none, read\]/);
    expect(() => bindingTypes('k', '@group(1) @binding(0) var<storage, read> b: array<f32>;', 1)).toThrow(/group 1/);
  });

  it('a dispatch with parameters the kernel does not declare, or without those it does, is refused', async () => {
    const gpu = await gpuBackend();
    const x = gpu.fill(4, 0, 'float32');
    expect(() => gpu.rt.dispatch(scaleShift(gpu.rt, 'refused'), [gpuBuffer(x)], null, [1])).toThrow(/takes parameters, got none/);
    const plain = gpu.rt.kernel('test:plain', () => `
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(1) fn main() { x[0] = 1.0; }`, 1);
    expect(() => gpu.rt.dispatch(plain, [gpuBuffer(x)], new Params().f32(1).done(), [1])).toThrow(/takes no parameters/);
    gpu.free(x);
  });

  it('trim drops the cached bind groups with the buffers it destroys', async () => {
    const gpu = await gpuBackend();
    const a = gpu.fill(64, 2, 'float32');
    gpu.free(a);
    gpu.rt.trim(); // destroys a's buffer; a cached bind group naming it must not be used again
    const b = gpu.fill(64, 2, 'float32');
    const c = gpu.unary('neg', view(b, 64));
    expect((await gpu.read(c))[5]).toBe(-2);
    gpu.free(b);
    gpu.free(c);
  });
});
