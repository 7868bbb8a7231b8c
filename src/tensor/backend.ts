import type { Backend, MemoryStats } from '../kernels/backend.js';
import { CpuBackend, createBackend, type CreateBackendOptions } from '../kernels/index.js';
import { liveTensorCount } from './memory.js';

let current: Backend | null = null;

/**
 * The backend new tensors go to. Until `initBackend` or `setBackend` is called it is the cpu backend
 * (documented default, not a fallback: `initBackend({ backend: 'webgpu' })` fails loudly without an adapter).
 */
export function getBackend(): Backend {
  current ??= new CpuBackend();
  return current;
}

export function setBackend(backend: Backend): void { current = backend; }

/** Creates the backend ('auto' | 'webgpu' | 'cpu', or VOXGRAD_BACKEND) and makes it current. */
export async function initBackend(options: CreateBackendOptions = {}): Promise<Backend> {
  const b = await createBackend(options);
  current = b;
  return b;
}

export interface EngineMemory extends MemoryStats { liveTensors: number }

/** Live tensors, and the backend's live and pooled buffers and bytes. */
export function memory(backend: Backend = getBackend()): EngineMemory {
  return { liveTensors: liveTensorCount(), ...backend.memory() };
}
