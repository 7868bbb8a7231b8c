/**
 * option checks shared by the networks (the transformer models: ViT and its blocks, UNETR, SwinUNETR; AttentionUnet,
 * DenseNet), each error naming its model
 */

export function checkDropoutRate(op: string, rate: number): void {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`${op}: dropoutRate must be in [0, 1], got ${rate}`);
}

export function checkHeads(op: string, hiddenSize: number, numHeads: number): void {
  if (!Number.isInteger(hiddenSize) || hiddenSize < 1 || !Number.isInteger(numHeads) || numHeads < 1) {
    throw new Error(`${op}: hiddenSize and numHeads must be positive integers, got ${hiddenSize} and ${numHeads}`);
  }
  if (hiddenSize % numHeads !== 0) throw new Error(`${op}: hiddenSize ${hiddenSize} must be divisible by numHeads ${numHeads}`);
}

export function checkSpatialDims(op: string, spatialDims: number | undefined): void {
  if ((spatialDims ?? 3) !== 3) throw new Error(`${op}: spatialDims ${String(spatialDims)} is not supported (3 only)`);
}

/** each option a positive integer, checked in the order given */
export function checkPositiveIntegers(op: string, options: Record<string, number>): void {
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${op}: ${name} must be a positive integer, got ${value}`);
  }
}

/** an integer option (or one entry of a list, as `what` names it) of at least `min` */
export function checkCount(op: string, what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`${op}: ${what} must be an integer ≥ ${min}, got ${value}`);
}
