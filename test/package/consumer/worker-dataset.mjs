// The dataset of use-voxgrad.mjs's DataLoader with worker threads: each worker imports this module and calls
// createDataset(n), as a PyTorch user's Dataset would be rebuilt in a worker. Five 2×2×2 samples with Gaussian noise.
import { Dataset, RandGaussianNoise } from 'voxgrad/imaging';

export function createDataset(n) {
  const samples = Array.from({ length: n }, (_, i) => ({ image: { data: Float32Array.from({ length: 8 }, (_, k) => 8 * i + k), shape: [2, 2, 2] }, id: `case${i}` }));
  return new Dataset(samples, [new RandGaussianNoise({ keys: 'image', prob: 1 })]);
}
