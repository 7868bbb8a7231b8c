/** option checks shared by the transformer models (ViT and its blocks, UNETR), each error naming its model */

export function checkDropoutRate(op: string, rate: number): void {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`${op}: dropoutRate must be in [0, 1], got ${rate}`);
}

export function checkHeads(op: string, hiddenSize: number, numHeads: number): void {
  if (!Number.isInteger(hiddenSize) || hiddenSize < 1 || !Number.isInteger(numHeads) || numHeads < 1) {
    throw new Error(`${op}: hiddenSize and numHeads must be positive integers, got ${hiddenSize} and ${numHeads}`);
  }
  if (hiddenSize % numHeads !== 0) throw new Error(`${op}: hiddenSize ${hiddenSize} must be divisible by numHeads ${numHeads}`);
}
