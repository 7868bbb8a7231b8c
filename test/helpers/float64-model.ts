import { Parameter, type Module } from '../../src/models/index.js';
import { cpu } from './backends.js';

/** replaces every parameter of `net` by a float64 copy on cpu (assignment to the property registers it, as PyTorch's __setattr__) */
export async function toFloat64(net: Module): Promise<void> {
  for (const m of net.modules()) {
    for (const [name, p] of m.namedParameters('', false)) {
      const copy = Parameter.fromHost(await p.toArray(), p.shape, { backend: cpu, dtype: 'float64' });
      (m as unknown as Record<string, Parameter>)[name] = copy;
      p.dispose();
    }
  }
}
