import { describe, expect, it } from 'vitest';
import { Module, Parameter } from '../../src/models/index.js';
import { memory } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

/**
 * Module.to(backend) refused part way through its uploads (a float64 parameter after float32 ones, which WebGPU cannot
 * hold) moves nothing and leaves nothing behind on the target backend: the storages already uploaded are freed.
 */

class Mixed extends Module {
  readonly a = this.registerParameter('a', Parameter.fromHost([1, 2, 3], [3], { backend: cpu }));
  readonly b = this.registerParameter('b', Parameter.fromHost([4, 5], [2], { backend: cpu }));
  readonly wide = this.registerParameter('wide', Parameter.fromHost([0.1, 0.2], [2], { backend: cpu, dtype: 'float64' }));
}

describe('Module.to refused part way', () => {
  it('names the reason, moves nothing, and frees what it had uploaded', async () => {
    const g = await webgpu();
    const m = new Mixed();
    const before = memory(g);
    await expect(m.to(g)).rejects.toThrow(/float64 is not supported by WGSL/);
    expect(memory(g).liveBuffers).toBe(before.liveBuffers);
    expect(memory(g).liveTensors).toBe(before.liveTensors);
    expect(m.parameters().every((p) => p.backend === cpu)).toBe(true);
    expect(Array.from(await m.a.toArray())).toEqual([1, 2, 3]);
    m.dispose();
  });
});
