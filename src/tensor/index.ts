export { Tensor, StorageRef, type GradNode, type HostArray, type NestedList } from './tensor.js';
export { tidy, keep, dispose, liveTensorCount } from './memory.js';
export { getBackend, setBackend, initBackend, memory, type EngineMemory } from './backend.js';
export { fromArray, full, zeros, ones, scalar, arange, rand, randn, randint, uniform, type CreateOptions, type RandomOptions } from './creation.js';
export { broadcastShapes, formatShape, sizeOf, contiguousStrides, normalizeAxis, normalizeAxes, sameShape } from './shape.js';
