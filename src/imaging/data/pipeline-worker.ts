/**
 * A data-loading worker thread of data/pipeline.ts: re-creates the case source from its description (with no
 * cache of its own: the training thread keeps the decoded cases), then answers requests one at a time:
 * 'decode' posts the case back in SharedArrayBuffers, 'prepare' posts the batch back with its arrays transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { prepareBatch, sourceFromDescription, toShared, type WorkerInit, type WorkerReply, type WorkerRequest } from './pipeline.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const sourceReady = sourceFromDescription(init.description, 0);
sourceReady.catch(() => { /* reported with each task */ });

async function handle(m: WorkerRequest): Promise<void> {
  try {
    const source = await sourceReady;
    if (m.type === 'decode') {
      if (init.crashOn === m.id) process.exit(3);
      const reply: WorkerReply = { type: 'done', task: m.task, result: toShared(await source.load(m.id)) };
      port.postMessage(reply);
    } else {
      const batch = await prepareBatch(source.name, m.plan, m.config, m.cases, m.sdf);
      const reply: WorkerReply = { type: 'done', task: m.task, result: batch };
      // the batch's arrays are fresh ArrayBuffers (not shared): transferred, not copied
      const arrays = [batch.image, batch.label, ...(batch.sdf ? [batch.sdf] : [])];
      port.postMessage(reply, arrays.map((a) => a.buffer as ArrayBuffer));
    }
  } catch (e) {
    const reply: WorkerReply = { type: 'failed', task: m.task, message: e instanceof Error ? e.message : String(e) };
    port.postMessage(reply);
  }
}

let queue = Promise.resolve();
port.on('message', (m: WorkerRequest) => {
  queue = queue.then(() => handle(m));
});
