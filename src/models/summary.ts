import type { Backend } from '../kernels/backend.js';
import { noGrad } from '../autograd/graph.js';
import { randn } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { Layer, type Module } from './module.js';

/**
 * torchinfo's `summary`: one forward pass in eval mode with every module's forward wrapped to record the shape
 * of what it returns, then a table of the module tree with output shapes and parameter counts.
 */

/** A module with a forward of one tensor (what `summary` runs). */
export interface Forwardable extends Module {
  forward(x: Tensor): unknown;
}

export interface SummaryRow {
  /** dotted name ('' for the model itself) */
  name: string;
  /** class name (Conv3d, BatchNorm3d, …) */
  type: string;
  depth: number;
  /** the shape of each tensor the module's forward returned ('' for one tensor, else the array index or key);
   * empty when the forward did not run this module */
  outputShapes: { key: string; shape: readonly number[] }[];
  /** calls of the module's forward in the pass (a module used twice, as V-Net's dropout, has 2) */
  calls: number;
  /** parameters of the module and its descendants */
  params: number;
}

export interface ModelSummary {
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  /** the printed table */
  table: string;
}

export interface SummaryOptions {
  /** backend of the generated input (default: the model's); ignored when a tensor is given */
  backend?: Backend;
  /** print the table with console.log (default true) */
  print?: boolean;
}

function shapesOf(value: unknown, key = '', depth = 0): { key: string; shape: readonly number[] }[] {
  if (value instanceof Tensor) return [{ key, shape: value.shape }];
  if (depth > 3 || value === null || typeof value !== 'object') return [];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  return entries.flatMap(([k, v]) => shapesOf(v, key ? `${key}.${k}` : k, depth + 1));
}

function formatOutputs(shapes: SummaryRow['outputShapes']): string {
  if (shapes.length === 0) return '--';
  return shapes.map(({ key, shape }) => (key ? `${key}: ${formatShape(shape)}` : formatShape(shape))).join(', ');
}

/**
 * Runs `model` once on `input` (a tensor, or a shape for a standard-normal input on the model's backend) in
 * eval mode without recording a graph, and lists every module in tree order with the shapes its forward
 * returned and its parameter count. The model's train/eval flags and running statistics are left as they
 * were; every tensor the pass makes is freed.
 */
export function summary(model: Forwardable, input: Tensor | readonly number[], options: SummaryOptions = {}): ModelSummary {
  const modules = model.namedModules();
  const rows = new Map<Module, SummaryRow>();
  for (const [name, m] of modules) {
    if (rows.has(m)) continue; // a module registered twice is listed once
    rows.set(m, {
      name, type: m.typeName, depth: name === '' ? 0 : name.split('.').length, outputShapes: [], calls: 0, params: m.numParameters(),
    });
  }
  const training = modules.map(([, m]) => m.training);
  type Patchable = { forward?: unknown; fusedWith?: unknown };
  const restore: (() => void)[] = [];
  for (const m of rows.keys()) {
    const target = m as unknown as Patchable;
    const original = target.forward;
    if (typeof original !== 'function') continue;
    const own = Object.prototype.hasOwnProperty.call(m, 'forward');
    target.forward = (...args: unknown[]) => {
      const out: unknown = original.apply(m, args);
      const row = rows.get(m)!;
      row.calls++;
      row.outputShapes = shapesOf(out);
      return out;
    };
    // every layer runs its own forward (a fused norm → ReLU pair would hide the ReLU; the values are the same)
    if (m instanceof Layer) target.fusedWith = () => null;
    restore.push(() => {
      if (own) target.forward = original;
      else delete target.forward;
      if (m instanceof Layer) delete target.fusedWith;
    });
  }
  try {
    model.eval();
    noGrad(() => tidy(() => {
      const x = input instanceof Tensor ? input : randn(input, 0, { backend: options.backend ?? model.backend, dtype: model.parameters()[0]?.dtype ?? 'float32' });
      model.forward(x);
    }));
  } finally {
    for (const undo of restore) undo();
    modules.forEach(([, m], i) => { m.training = training[i]; });
  }
  const list = [...rows.values()];
  const totalParams = model.numParameters();
  const trainableParams = model.numParameters(true);
  const cells = list.map((r) => [
    `${'  '.repeat(r.depth)}${r.name === '' ? r.type : `${r.name.split('.').at(-1)} (${r.type})`}`,
    formatOutputs(r.outputShapes) + (r.calls > 1 ? ` ×${r.calls}` : ''),
    r.params.toLocaleString('en-US'),
  ]);
  const head = ['Layer (type)', 'Output Shape', 'Param #'];
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((s, c) => (c === 2 ? s.padStart(widths[c]) : s.padEnd(widths[c]))).join('   ').trimEnd();
  const rule = '='.repeat(widths.reduce((s, w) => s + w, 0) + 6);
  const table = [
    rule, line(head), rule, ...cells.map(line), rule,
    `Total params: ${totalParams.toLocaleString('en-US')}`,
    `Trainable params: ${trainableParams.toLocaleString('en-US')}`,
    `Non-trainable params: ${(totalParams - trainableParams).toLocaleString('en-US')}`,
    rule,
  ].join('\n');
  if (options.print ?? true) console.log(table);
  return { rows: list, totalParams, trainableParams, table };
}
