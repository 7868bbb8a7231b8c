// A consumer's script, run with plain `node` (no TypeScript loader) against the installed tarball: the engine
// trains a tiny model one step on the cpu backend; imaging writes/reads NIfTI (fflate) and an LA case (h5wasm);
// dbisl's loss runs; a DataLoader's worker threads rebuild a dataset from worker-dataset.mjs; one op runs on WebGPU
// (Dawn's native module) when asked. Prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import {
  BatchNorm3d, Conv3d, CpuBackend, Module, ReLU, SGD, backward, createBackend, fromArray, mean, randn, sigmoid, square,
  tidy,
} from 'voxgrad';
import { DataLoader, dice, readLAFile, readNifti, writeNifti } from 'voxgrad/imaging';
import { diceLoss } from 'voxgrad/dbisl';
import { createDataset } from './worker-dataset.mjs';

const cpu = new CpuBackend();

class Tiny extends Module {
  constructor() {
    super();
    this.conv = new Conv3d(1, 2, 3, { padding: 1, seed: 1, backend: cpu });
    this.norm = new BatchNorm3d(2, { backend: cpu });
    this.relu = new ReLU();
  }
  forward(x) { return this.relu.forward(this.norm.forward(this.conv.forward(x))); }
}

const model = new Tiny();
const x = randn([2, 1, 4, 4, 4], 7, { backend: cpu });
const optimizer = new SGD(model.parameters(), { lr: 0.1 });
const loss = tidy(() => mean(square(model.forward(x))));
backward(loss);
const lossValue = await loss.item();
const gradSum = (await model.conv.weight.grad.toArray()).reduce((s, v) => s + v, 0);
optimizer.step();
const target = fromArray([0, 1, 1, 0], [4], { backend: cpu });
const soft = await tidy(() => diceLoss(sigmoid(fromArray([-2, 2, 3, -1], [4], { backend: cpu })), target)).item();

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-consumer-'));
const label = Uint8Array.from([0, 1, 1, 0, 1, 1, 0, 0]);
writeNifti(join(dir, 'label.nii.gz'), { data: label, shape: [2, 2, 2] }, { datatype: 'uint8' });
const nifti = await readNifti(join(dir, 'label.nii.gz'));
await h5wasm.ready;
const h5 = new h5wasm.File(join(dir, 'mri_norm2.h5'), 'w');
h5.create_dataset({ name: 'image', data: Float32Array.from(label, (v) => v * 0.5), shape: [2, 2, 2] });
h5.create_dataset({ name: 'label', data: label, shape: [2, 2, 2] });
h5.close();
const la = await readLAFile(join(dir, 'mri_norm2.h5'));
rmSync(dir, { recursive: true, force: true });

// the same batches from two worker threads as from this thread
const batches = async (opts) => {
  const loader = new DataLoader(createDataset(5), { batchSize: 2, shuffle: true, seed: 3, backend: cpu, ...opts });
  const out = [];
  for await (const batch of loader) out.push({ id: batch.id, image: Array.from(await batch.image.toArray()) });
  await loader.close();
  return out;
};
const threaded = await batches({ workers: 2, workerDataset: { module: new URL('./worker-dataset.mjs', import.meta.url), args: [5] } });
const workersSame = JSON.stringify(threaded) === JSON.stringify(await batches({}));

let webgpuSum = null;
if (process.argv.includes('--webgpu')) {
  const gpu = await createBackend({ backend: 'webgpu' });
  webgpuSum = await tidy(() => square(fromArray([1, 2, 3], [3], { backend: gpu })).sum()).item();
  gpu.dispose();
}

console.log(JSON.stringify({
  entry: import.meta.resolve('voxgrad'),
  parameters: model.parameters().length,
  loss: lossValue,
  gradSum,
  diceLoss: soft,
  niftiDice: dice(Uint8Array.from(nifti.volume.data), label),
  laLabel: Array.from(la.label.data),
  workerIds: threaded.map((b) => b.id),
  workersSame,
  webgpuSum,
}));
