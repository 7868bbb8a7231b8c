/**
 * A DataLoader's worker thread (see `DataLoader`'s `workers`): makes the dataset by calling the export of the user's
 * module, then answers item requests one at a time with the item transformed as on the calling thread (its own
 * `new Rng(hashSeed(epochSeed, index))`), copied back to the loader.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assertPlainSample } from './dataset-persistent.js';
import type { DatasetWorkerInit, DatasetWorkerRequest } from './dataset.js';
import { hashSeed, Rng } from './random.js';
import type { TaskReply } from './worker-pool.js';

interface ItemSource { length: number; getItem(index: number, rng?: Rng): unknown }

const init = workerData as DatasetWorkerInit;
const port = parentPort!;

async function makeDataset(): Promise<ItemSource> {
  const mod = await import(init.module) as Record<string, unknown>;
  const factory = mod[init.exportName];
  if (typeof factory !== 'function') {
    const functions = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    throw new Error(`${init.module} has no function export '${init.exportName}' (its functions: ${functions.join(', ') || 'none'})`);
  }
  const dataset = await (factory as (...args: unknown[]) => unknown)(...init.args) as Partial<ItemSource> | null;
  if (dataset === null || typeof dataset !== 'object' || typeof dataset.getItem !== 'function' || typeof dataset.length !== 'number') {
    throw new Error(`${init.module}: ${init.exportName}(…) did not return a Dataset`);
  }
  if (dataset.length !== init.length) {
    throw new Error(`${init.module}: the dataset ${init.exportName}(…) made in the worker has ${dataset.length} items, the DataLoader's has ${init.length}`);
  }
  return dataset as ItemSource;
}

const ready = makeDataset();
ready.catch(() => { /* reported with each task */ });

async function handle(m: DatasetWorkerRequest): Promise<void> {
  let reply: TaskReply<unknown>;
  try {
    const item = (await ready).getItem(m.index, new Rng(hashSeed(m.seed, m.index)));
    try {
      assertPlainSample(item);
    } catch (e) {
      throw new Error(`item ${m.index} cannot be sent back from a worker thread: ${e instanceof Error ? e.message : String(e)}`);
    }
    reply = { type: 'done', task: m.task, result: item };
  } catch (e) {
    reply = { type: 'failed', task: m.task, message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
}

let queue = Promise.resolve();
port.on('message', (m: DatasetWorkerRequest) => {
  queue = queue.then(() => handle(m));
});
