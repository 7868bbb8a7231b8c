/**
 * Worker threads that answer numbered tasks (the data pipeline's decoding and batches, a DataLoader's items), and how
 * to start a worker module under tsx.
 *
 * A task goes to the least busy live worker; its reply settles it. A worker that throws outside a task or exits
 * rejects every task it holds, naming the task and the reason, and every later task (no hang). Workers are
 * unreferenced while idle (they do not keep the process alive) and terminated by close().
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';

/** The file URL of a package's ESM entry `subpath` ('.', './node', …), read from its package.json exports. */
export function esmEntry(pkg: string, subpath: string): string {
  // not require.resolve(`${pkg}/package.json`): a package need not export its package.json
  const dir = createRequire(import.meta.url).resolve.paths(pkg)?.map((d) => join(d, pkg)).find((d) => existsSync(join(d, 'package.json')));
  if (!dir) throw new Error(`cannot find the package ${pkg}`);
  const pkgFile = join(dir, 'package.json');
  const exp = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: string | { default: string } }> }).exports[subpath];
  if (!exp) throw new Error(`${pkg} exports no '${subpath}'`);
  return pathToFileURL(join(dirname(pkgFile), typeof exp.import === 'string' ? exp.import : exp.import.default)).href;
}

/** How a Worker starts: a module URL, or (eval) a bootstrap script. */
export interface WorkerStart {
  entry: string | URL;
  evaluate: boolean;
}

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

/** Whether a module is TypeScript, which a worker can import only with tsx's loader registered. */
export function isTypeScript(url: string | URL): boolean {
  return TYPESCRIPT.has(extname(fileURLToPath(url)));
}

/**
 * How to start the worker module `url`: directly when it is JavaScript and `tsx` is false; else by a small bootstrap
 * that imports the `preload` modules (before tsx, which would otherwise transform them: h5wasm's 4 MB build takes
 * ≈ 10× the start-up time transformed), registers tsx's ESM loader in the worker and then imports `url` (Node 20 does
 * not apply `--import` loaders to a worker's entry module). `tsx` true: a module the worker imports later is
 * TypeScript.
 */
export function workerStart(url: URL, opts: { preload?: readonly string[]; tsx?: boolean } = {}): WorkerStart {
  if (!isTypeScript(url) && !opts.tsx) return { entry: url, evaluate: false };
  let api: string;
  try {
    api = esmEntry('tsx', './esm/api');
  } catch (e) {
    throw new Error(`a worker thread needs tsx to load TypeScript (${e instanceof Error ? e.message : String(e)}; npm install tsx)`);
  }
  return {
    entry: `Promise.all(${JSON.stringify(opts.preload ?? [])}.map((m) => import(m))).then(() => import(${JSON.stringify(api)}))`
      + `.then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); });`,
    evaluate: true,
  };
}

/** A worker's reply to a task. */
export type TaskReply<R> = { type: 'done'; task: number; result: R } | { type: 'failed'; task: number; message: string };

interface Task<R> {
  what: string;
  resolve(v: R): void;
  reject(e: Error): void;
}

interface Slot<R> {
  index: number;
  worker: Worker;
  tasks: Map<number, Task<R>>;
  dead: boolean;
}

export interface WorkerPoolOptions {
  /** what the pool serves, in errors ('the data pipeline') */
  owner: string;
  /** what a worker is called, in errors ('data worker') */
  workerName: string;
  /** each worker's workerData */
  workerData?: unknown;
}

/** `count` workers started from `start`, answering requests `{ task, … }` with {@link TaskReply}s. */
export class WorkerPool<Request extends { task: number }, Result> {
  readonly #slots: Slot<Result>[] = [];
  readonly #owner: string;
  readonly #workerName: string;
  #nextTask = 0;
  #failure: Error | null = null;
  #closing = false;

  constructor(start: WorkerStart, count: number, opts: WorkerPoolOptions) {
    this.#owner = opts.owner;
    this.#workerName = opts.workerName;
    for (let index = 0; index < count; index++) {
      const worker = new Worker(start.entry, { workerData: opts.workerData, eval: start.evaluate });
      const slot: Slot<Result> = { index, worker, tasks: new Map(), dead: false };
      worker.unref();
      worker.on('message', (m: TaskReply<Result>) => this.#reply(slot, m));
      worker.on('error', (e: Error) => this.#die(slot, `failed: ${e.message}`));
      worker.on('messageerror', (e: Error) => this.#die(slot, `sent an unreadable message: ${e.message}`));
      worker.on('exit', (code) => this.#die(slot, `exited with code ${code}`));
      this.#slots.push(slot);
    }
  }

  #reply(slot: Slot<Result>, m: TaskReply<Result>): void {
    const task = slot.tasks.get(m.task);
    if (!task) return;
    slot.tasks.delete(m.task);
    if (slot.tasks.size === 0) slot.worker.unref();
    if (m.type === 'done') task.resolve(m.result);
    else task.reject(new Error(`${task.what}: ${m.message}`));
  }

  #die(slot: Slot<Result>, reason: string): void {
    if (slot.dead) return;
    slot.dead = true;
    if (this.#closing) return;
    const why = `${this.#workerName} ${slot.index} ${reason}`;
    this.#failure ??= new Error(`${this.#owner} stopped: ${why}`);
    for (const task of slot.tasks.values()) task.reject(new Error(`${task.what}: ${why}`));
    slot.tasks.clear();
    slot.worker.unref();
  }

  /** Runs the request made for a task number on the least busy worker; `what` names the task in errors. */
  run(what: string, request: (task: number) => Request, transfer: readonly TransferListItem[] = []): Promise<Result> {
    if (this.#failure) return Promise.reject(new Error(`${what}: ${this.#failure.message}`));
    if (this.#closing) return Promise.reject(new Error(`${what}: ${this.#owner} is closed`));
    const slot = this.#slots.filter((s) => !s.dead).reduce((a, b) => (b.tasks.size < a.tasks.size ? b : a));
    const task = this.#nextTask++;
    return new Promise<Result>((resolve, reject) => {
      slot.tasks.set(task, { what, resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage(request(task), transfer);
    });
  }

  /** Stops the workers; pending tasks reject. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const slot of this.#slots) {
      for (const task of slot.tasks.values()) task.reject(new Error(`${task.what}: ${this.#owner} was closed`));
      slot.tasks.clear();
    }
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
