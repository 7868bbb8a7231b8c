/**
 * Explicit memory ownership (JavaScript has no destructors): every tensor is registered in the innermost
 * open scope; `tidy(fn)` disposes everything created inside fn except the tensors it returns, which move
 * to the enclosing scope.
 */
export interface Disposable { dispose(): void; readonly isDisposed: boolean }

const scopes: Set<Disposable>[] = [];
let liveTensors = 0;

export function trackTensor(t: Disposable): void {
  liveTensors++;
  scopes[scopes.length - 1]?.add(t);
}

export function untrackTensor(t: Disposable): void {
  liveTensors--;
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(t)) break;
}

export function liveTensorCount(): number { return liveTensors; }

/** Keeps a tensor out of the scope it was created in (it must then be disposed by hand). */
export function keep<T extends Disposable>(t: T): T {
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(t)) break;
  return t;
}

function collect(value: unknown, into: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ('dispose' in value && 'isDisposed' in value) { into.add(value as Disposable); return; }
  if (Array.isArray(value)) { for (const v of value) collect(v, into, depth + 1); return; }
  if (value instanceof Map) { for (const v of value.values()) collect(v, into, depth + 1); return; }
  if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, into, depth + 1);
}

const AsyncFunction = (async () => undefined).constructor;

/**
 * Runs fn and disposes every tensor it created, except those in its result (a tensor, or arrays, maps and
 * plain objects holding tensors). fn must be synchronous: an await inside would let other work's tensors
 * land in this scope.
 */
export function tidy<T>(fn: () => T): T {
  if (fn.constructor === AsyncFunction) throw new Error('tidy: fn must be synchronous (await inside a scope mixes up ownership)');
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  // the scope stays innermost while its tensors are disposed: each one's untrackTensor finds it at once
  try {
    result = fn();
  } catch (e) {
    for (const t of scope) if (!t.isDisposed) t.dispose();
    scopes.pop();
    throw e;
  }
  const kept = new Set<Disposable>();
  collect(result, kept);
  for (const t of scope) if (!kept.has(t) && !t.isDisposed) t.dispose();
  scopes.pop();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of kept) if (scope.has(t)) parent.add(t);
  return result;
}

/** Disposes every tensor in a value (a tensor, array, map or plain object of them). */
export function dispose(value: unknown): void {
  const all = new Set<Disposable>();
  collect(value, all);
  for (const t of all) if (!t.isDisposed) t.dispose();
}
