import { noGrad } from '../autograd/graph.js';
import { assign } from '../autograd/ops.js';
import type { SgdItem } from '../kernels/backend.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

export interface EmaOptions {
  /**
   * What happens to the teacher's buffers (BatchNorm running statistics): 'keep' leaves them to the teacher's
   * own forward passes (UA-MT / DTC's update_ema_variables), 'copy' copies the student's, 'ema' averages them
   * like the parameters (integer buffers are copied).
   */
  buffers?: 'keep' | 'copy' | 'ema';
}

/** UA-MT's decay schedule: min(1 − 1/(globalStep + 1), alpha). */
export function emaDecay(globalStep: number, alpha = 0.99): number {
  return Math.min(1 - 1 / (globalStep + 1), alpha);
}

/**
 * Mean teacher: teacher ← decay · teacher + (1 − decay) · student for every parameter (matched by name).
 * Fused kernels for all parameters at once: the update w ← w + (1 − decay)(s − w) is backend.sgdSteps with
 * gradient s, learning rate −(1 − decay) and weight decay −1.
 */
export function ema(teacher: Module, student: Module, decay: number, options: EmaOptions = {}): void {
  if (!(decay >= 0 && decay <= 1)) throw new Error(`ema: decay must be in [0, 1], got ${decay}`);
  const sp = new Map(student.namedParameters());
  const tp = teacher.namedParameters();
  const problems: string[] = [];
  for (const [name, t] of tp) {
    const s = sp.get(name);
    if (!s) problems.push(`student has no parameter ${name}`);
    else if (!sameShape(s.shape, t.shape) || s.dtype !== t.dtype || s.backend !== t.backend) {
      problems.push(`${name}: teacher ${formatShape(t.shape)} ${t.dtype}, student ${formatShape(s.shape)} ${s.dtype}`);
    }
  }
  if (tp.length !== sp.size) problems.push(`teacher has ${tp.length} parameters, student ${sp.size}`);
  if (problems.length) throw new Error(`ema: the models differ:\n  ${problems.join('\n  ')}`);
  const mode = options.buffers ?? 'keep';
  const sb = new Map(student.namedBuffers());
  // the buffers are checked before anything is updated: a refused call changes nothing
  const buffers = mode === 'keep' ? [] : teacher.namedBuffers().map(([name, t]) => {
    const s = sb.get(name);
    if (!s || !sameShape(s.shape, t.shape) || s.dtype !== t.dtype || s.backend !== t.backend) throw new Error(`ema: buffer ${name} differs between teacher and student`);
    return [t, s] as const;
  });
  const update = { lr: -(1 - decay), momentum: 0, dampening: 0, nesterov: false, weightDecay: -1 };
  const byBackend = new Map<Tensor['backend'], SgdItem[]>();
  for (const [name, t] of tp) {
    let items = byBackend.get(t.backend);
    if (!items) byBackend.set(t.backend, items = []);
    items.push({ param: t.storage, grad: sp.get(name)!.storage, momentumBuffer: null, firstStep: false });
  }
  for (const [backend, items] of byBackend) backend.sgdSteps(items, update);
  noGrad(() => {
    for (const [t, s] of buffers) {
      if (mode === 'copy' || t.dtype === 'int32' || !t.isDense) assign(t, s);
      else {
        const sv = s.isDense ? s.storage : null;
        if (sv) {
          t.backend.sgdStep(t.storage, sv, null, { lr: -(1 - decay), momentum: 0, dampening: 0, nesterov: false, weightDecay: -1, firstStep: false });
        } else assign(t, s);
      }
    }
  });
}
