/**
 * voxgrad: tensors on WebGPU (WGSL through Dawn) with a cpu oracle, reverse-mode autograd, the volumetric
 * operators of 3-D segmentation networks, modules, optimizers and checkpoints. Data flows one way:
 * models → autograd → tensor → kernels → device.
 */
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './models/index.js';
export {
  createBackend, parseBackendChoice, CpuBackend, WebGPUBackend,
  type Backend, type BackendChoice, type BackendName, type CreateBackendOptions, type DType, type MemoryStats,
  type Storage, type TypedArray, type View,
  // cuDNN's benchmark mode for the conv3d kernels
  tuneConv3d, tuneConv3dWithCache, recordConv3dProblems, clearConv3dChoices, conv3dCacheDir,
  type TuneConv3dOptions, type TuneConv3dCacheOptions, type TuneConv3dCacheResult, type TuneConv3dRow, type TuneTimingMethod,
} from './kernels/index.js';
