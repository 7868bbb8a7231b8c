import { conv3dTuning } from '../../src/kernels/webgpu/conv3d.js';

/**
 * How the WebGPU conv3d entry points choose their kernels in a test:
 * - 'adapter': this adapter's defaults (on llvmpipe, a software adapter: the direct and wgrad kernels);
 * - 'gpu': a real GPU's defaults (conv3dTuning.softwareAdapterGemms on): the implicit GEMMs for the layers
 *   with at least 16 channels, as the V-Net's on an H100/H200;
 * - 'gemm': the GPU's rules with the channel thresholds at 0, so that the tests' few-channel convolutions
 *   also go through the implicit GEMMs (forward and input gradient at stride 1, every weight gradient).
 */
export type ConvKernels = 'adapter' | 'gpu' | 'gemm';

/** Sets conv3dTuning for a mode; returns a function restoring the previous knobs. */
export function setConvKernels(mode: ConvKernels): () => void {
  const saved = { ...conv3dTuning };
  if (mode !== 'adapter') conv3dTuning.softwareAdapterGemms = true;
  if (mode === 'gemm') {
    conv3dTuning.implicitGemmMinChannels = 0;
    conv3dTuning.implicitGemmMinReadChannels = 0;
    conv3dTuning.implicitGemmWeightGradientMinChannels = 0;
  }
  return () => { Object.assign(conv3dTuning, saved); };
}
