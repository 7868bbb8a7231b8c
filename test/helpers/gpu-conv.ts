import { conv3dTuning, WebGPUBackend, type Backend, type Conv3dTuning } from '../../src/kernels/index.js';
import { webgpu } from './backends.js';

/**
 * How a backend's WebGPU conv3d entry points choose their kernels in a test:
 * - 'adapter': this adapter's defaults (on llvmpipe, a software adapter: the direct and wgrad kernels);
 * - 'gpu': a real GPU's defaults (the knob softwareAdapterGemms on): the implicit GEMMs for the layers
 *   with at least 16 channels, as the V-Net's on an H100/H200;
 * - 'gemm': the GPU's rules with the channel thresholds at 0, so that the tests' few-channel convolutions
 *   also go through the implicit GEMMs (forward and input gradient at stride 1, every weight gradient).
 */
export type ConvKernels = 'adapter' | 'gpu' | 'gemm';

/** Sets the WebGPU backend's conv3d knobs for a mode; returns a function restoring the previous knobs. */
export function setConvKernels(gpu: Backend, mode: ConvKernels): () => void {
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  const tuning = conv3dTuning(gpu.rt), saved = tuning.knobs;
  if (mode !== 'adapter') tuning.configure({ softwareAdapterGemms: true });
  if (mode === 'gemm') tuning.configure({ implicitGemmMinChannels: 0, implicitGemmMinReadChannels: 0, implicitGemmWeightGradientMinChannels: 0 });
  return () => tuning.configure(saved);
}

/** The conv3d choices of the tests' WebGPU backend (a test's knobs are reset with configure(defaultConv3dKnobs)). */
export async function gpuConv3dTuning(): Promise<Conv3dTuning> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return conv3dTuning(gpu.rt);
}
