import { BatchNorm3d, Parameter, type Module } from '../../src/models/index.js';
import { fromArray, keep } from '../../src/tensor/index.js';
import { cpu } from './backends.js';

/**
 * replaces every parameter of `net` by a float64 copy on cpu (requiring grad as it did) under its registered name
 * (assignment registers it, as PyTorch's __setattr__) and under every other property of its module that held it (a
 * field whose name differs from PyTorch's), and the running statistics of its BatchNorm3d layers (the buffer and the
 * field the layer reads)
 */
export async function toFloat64(net: Module): Promise<void> {
  for (const m of net.modules()) {
    const fields = m as unknown as Record<string, unknown>;
    for (const [name, p] of m.namedParameters('', false)) {
      const copy = Parameter.fromHost(await p.toArray(), p.shape, { backend: cpu, dtype: 'float64', requiresGrad: p.requiresGrad });
      const holders = Object.keys(fields).filter((key) => key !== name && fields[key] === p);
      fields[name] = copy;
      for (const key of holders) fields[key] = copy;
      p.dispose();
    }
    if (!(m instanceof BatchNorm3d)) continue;
    for (const [field, buffer] of [['runningMean', 'running_mean'], ['runningVar', 'running_var']] as const) {
      const old = m[field];
      if (!old) continue;
      const copy = keep(fromArray(await old.toArray(), old.shape, { backend: cpu, dtype: 'float64' }));
      fields[buffer] = copy; // replaces (and disposes) the registered buffer
      fields[field] = copy;
    }
  }
}
