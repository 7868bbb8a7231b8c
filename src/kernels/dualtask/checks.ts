import type { PseudoLabelParams, SigmoidPart, Storage } from '../backend.js';

/* The argument checks of the dualtask kernels, shared by the cpu oracle and the WebGPU kernels. */

function checkExtent(what: string, name: string, s: Storage, needed: number): void {
  if (s.length < needed) throw new Error(`${what}: ${name} holds ${s.length} elements, needs ${needed}`);
}

function checkCount(what: string, name: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 0)) throw new Error(`${what}: ${name} ${v} must be an integer ≥ 0`);
}

const MAX_PARTS = 4;

export function checkScaledSigmoid(parts: readonly SigmoidPart[]): void {
  const what = 'scaledSigmoid';
  if (parts.length < 1 || parts.length > MAX_PARTS) throw new Error(`${what}: 1 to ${MAX_PARTS} parts, got ${parts.length}`);
  for (const { x, offset, n, a } of parts) {
    checkCount(what, 'offset', offset);
    checkCount(what, 'n', n);
    if (!Number.isFinite(a)) throw new Error(`${what}: the scale a ${a} must be finite`);
    checkExtent(what, 'an input', x, offset + n);
    if (x.dtype !== parts[0].x.dtype) throw new Error(`${what}: the parts are ${parts.map((q) => q.x.dtype).join(', ')}`);
  }
}

export function checkScaledSigmoidBackward(y: Storage, yOffset: number, g: Storage, n: number, a: number, addend?: Storage): void {
  const what = 'scaledSigmoidBackward';
  checkCount(what, 'offset', yOffset);
  checkCount(what, 'n', n);
  if (!Number.isFinite(a)) throw new Error(`${what}: the scale a ${a} must be finite`);
  checkExtent(what, 'the output', y, yOffset + n);
  checkExtent(what, 'the gradient', g, n);
  if (g.dtype !== y.dtype) throw new Error(`${what}: the gradient is ${g.dtype}, the output ${y.dtype}`);
  if (addend) {
    checkExtent(what, 'the addend', addend, n);
    if (addend.dtype !== y.dtype) throw new Error(`${what}: the addend is ${addend.dtype}, the output ${y.dtype}`);
  }
}

export function checkPseudoLabel(p: Storage, q: Storage, params: PseudoLabelParams): void {
  const what = 'pseudoLabel';
  const { pOffset, qOffset, n, head, weighting } = params;
  checkCount(what, 'pOffset', pOffset);
  checkCount(what, 'qOffset', qOffset);
  checkCount(what, 'n', n);
  if (head) {
    checkCount(what, 'the head\'s offset', head.offset);
    checkCount(what, 'the head\'s n', head.n);
    checkExtent(what, 'the head', head.storage, head.offset + head.n);
    if (head.storage.dtype !== p.dtype) throw new Error(`${what}: the head is ${head.storage.dtype}, p ${p.dtype}`);
  }
  checkExtent(what, 'p', p, pOffset + n);
  checkExtent(what, 'q', q, qOffset + n);
  if (p.dtype !== q.dtype) throw new Error(`${what}: p is ${p.dtype}, q ${q.dtype}`);
  if (weighting && !Number.isFinite(weighting.kind === 'exp' ? weighting.gamma : weighting.tau)) {
    throw new Error(`${what}: the weighting's constant must be finite, got ${JSON.stringify(weighting)}`);
  }
}
