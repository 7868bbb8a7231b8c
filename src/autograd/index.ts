import './methods.js';
export * from './ops.js';
export { backward, type BackwardOptions } from './backward.js';
export { noGrad, setGradEnabled, isGradEnabled, record } from './graph.js';
export { gradcheck, assertGradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export * from './nn.js';
export { autocast, getAutocastDtype, roundToFloat16, roundGradToFloat16, type AutocastDtype, type AutocastOptions } from './autocast.js';
export { scaledDotProductAttention, type ScaledDotProductAttentionOptions, type AttentionWeightsOptions } from './attention.js';
