import { checkNcdhw, formatShape } from '../geometry.js';

/* The argument checks of gridSample, shared by the cpu oracle and the WebGPU kernels. */

/** gridSample's shapes: x non-empty NCDHW, grid [N, Do, Ho, Wo, 3] with x's N and a non-empty output. */
export function checkGridSampleShapes(xShape: readonly number[], gridShape: readonly number[], what: string): void {
  checkNcdhw(xShape, what);
  if (gridShape.length !== 5 || gridShape[4] !== 3) throw new Error(`${what}: grid ${formatShape(gridShape)} must be [N, Do, Ho, Wo, 3]`);
  checkNcdhw([1, 1, ...gridShape.slice(1, 4)], `${what} (grid)`);
  if (gridShape[0] !== xShape[0]) throw new Error(`${what}: grid ${formatShape(gridShape)} and x ${formatShape(xShape)} differ in N`);
}
