/** GPU time per kernel over one run of a step, from per-dispatch timestamps (when the adapter has them). */
import type { Backend } from '../src/kernels/index.js';
import { WebGPUBackend } from '../src/kernels/index.js';

export interface KernelTime { kernel: string; ms: number; dispatches: number }

/** Runs `step` once with timestamp queries and returns the kernels sorted by total GPU time. */
export async function profileKernels(backend: Backend, step: () => void): Promise<{ totalMs: number; kernels: KernelTime[] } | null> {
  if (!(backend instanceof WebGPUBackend) || !backend.rt.hasTimestamps) return null;
  await backend.sync();
  backend.rt.startProfiling();
  step();
  const times = await backend.rt.stopProfiling();
  const byKernel = new Map<string, KernelTime>();
  for (const t of times) {
    const k = byKernel.get(t.label) ?? { kernel: t.label, ms: 0, dispatches: 0 };
    k.ms += t.ms;
    k.dispatches++;
    byKernel.set(t.label, k);
  }
  const kernels = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
  return { totalMs: times.reduce((s, t) => s + t.ms, 0), kernels };
}

export function printProfile(p: { totalMs: number; kernels: KernelTime[] }, top = 15): void {
  console.log(`  GPU time by kernel (sum of dispatches ${p.totalMs.toFixed(2)} ms; top ${top}):`);
  for (const k of p.kernels.slice(0, top)) {
    console.log(`    ${k.ms.toFixed(3).padStart(9)} ms ${(100 * k.ms / p.totalMs).toFixed(1).padStart(5)} %  ${String(k.dispatches).padStart(5)}×  ${k.kernel}`);
  }
}

/**
 * Exact peaks since the backend was created: live bytes (allocated tensors, as torch.cuda.max_memory_allocated)
 * and reserved bytes (live + the pool's idle buffers, as torch.cuda.max_memory_reserved; = live on the cpu).
 */
export function memoryPeaks(backend: Backend): { liveBytes: number; reservedBytes: number } {
  const liveBytes = backend.peakMemory();
  return { liveBytes, reservedBytes: backend instanceof WebGPUBackend ? backend.rt.peakReservedBytes : liveBytes };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
