import type { Backend, View } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';

/** Microbenchmarks of the elementwise kernels (webgpu.ts): memory-bound, compared with bandwidth. */

type Case = 'add' | 'relu' | 'sigmoid' | 'transpose';

function ewBench(kind: Case, n: number, label: string, large: boolean): KernelBenchmark {
  const reads = kind === 'add' ? 2 : 1;
  return {
    group: 'elementwise', name: `${kind} ${label}`, flops: kind === 'transpose' ? 0 : kind === 'sigmoid' ? 4 * n : n,
    bytes: 4 * n * (reads + 1), large,
    setup(backend: Backend) {
      const a = backend.fill(n, 0.5, 'float32');
      const b = backend.fill(n, -0.25, 'float32');
      const flat: View = { storage: a, shape: [n], strides: [1], offset: 0 };
      const other: View = { storage: b, shape: [n], strides: [1], offset: 0 };
      // transpose: read [rows, cols] column by column, i.e. copy the [cols, rows] transposed view
      const cols = 1024, rows = n / cols;
      const transposed: View = { storage: a, shape: [cols, rows], strides: [1, cols], offset: 0 };
      return {
        run() {
          const out = kind === 'add' ? backend.binary('add', flat, other)
            : kind === 'transpose' ? backend.copy(transposed)
              : backend.unary(kind, flat);
          backend.free(out);
        },
        dispose() { backend.free(a); backend.free(b); },
      };
    },
  };
}

const sizes: [number, string, boolean][] = [[1 << 20, '1M', false], [1 << 26, '64M', true]];

export const benchmarks: KernelBenchmark[] = sizes.flatMap(([n, label, large]) =>
  (['add', 'relu', 'sigmoid', 'transpose'] as const).map((kind) => ewBench(kind, n, label, large)));

