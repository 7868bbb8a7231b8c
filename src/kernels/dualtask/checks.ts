import type { PseudoLabelParams, Storage } from '../backend.js';

/* The argument checks of the dualtask kernels, shared by the cpu oracle and the WebGPU kernels. */

function checkExtent(what: string, name: string, s: Storage, needed: number): void {
  if (s.length < needed) throw new Error(`${what}: ${name} holds ${s.length} elements, needs ${needed}`);
}

function checkCount(what: string, name: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 0)) throw new Error(`${what}: ${name} ${v} must be an integer ≥ 0`);
}

export function checkScaledSigmoid(what: string, x: Storage, offset: number, n: number, a: number, g?: Storage): void {
  checkCount(what, 'offset', offset);
  checkCount(what, 'n', n);
  if (!Number.isFinite(a)) throw new Error(`${what}: the scale a ${a} must be finite`);
  checkExtent(what, 'the input', x, offset + n);
  if (g) {
    checkExtent(what, 'the gradient', g, n);
    if (g.dtype !== x.dtype) throw new Error(`${what}: the gradient is ${g.dtype}, the output ${x.dtype}`);
  }
}

export function checkPseudoLabel(p: Storage, q: Storage, params: PseudoLabelParams): void {
  const what = 'pseudoLabel';
  const { offset, n, lead, weighting } = params;
  checkCount(what, 'offset', offset);
  checkCount(what, 'n', n);
  checkCount(what, 'lead', lead);
  checkExtent(what, 'p', p, offset + n);
  checkExtent(what, 'q', q, offset + n);
  if (p.dtype !== q.dtype) throw new Error(`${what}: p is ${p.dtype}, q ${q.dtype}`);
  if (weighting && !Number.isFinite(weighting.kind === 'exp' ? weighting.gamma : weighting.tau)) {
    throw new Error(`${what}: the weighting's constant must be finite, got ${JSON.stringify(weighting)}`);
  }
}
