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

const isDisposable = (value: object): value is Disposable => 'dispose' in value && 'isDisposed' in value;

/** adds the disposables in value (a disposable, or arrays, maps and plain objects of them, 4 levels deep) to into */
function collect(value: unknown, into: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) { const v: unknown = value[i]; if (v !== null && typeof v === 'object') collect(v, into, depth + 1); }
    return;
  }
  if (isDisposable(value)) { into.add(value); return; }
  if (value instanceof Map) { for (const v of value.values()) collect(v, into, depth + 1); return; }
  if (Object.getPrototypeOf(value) !== Object.prototype) return;
  const record = value as Record<string, unknown>;
  for (const key in record) { const v = record[key]; if (v !== null && typeof v === 'object') collect(v, into, depth + 1); }
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
  const parent = scopes.length > 1 ? scopes[scopes.length - 2] : undefined;
  if (result !== null && typeof result === 'object' && !Array.isArray(result) && isDisposable(result)) {
    // the usual result, a single tensor: no set of kept ones
    for (const t of scope) if (t !== result && !t.isDisposed) t.dispose();
    scopes.pop();
    if (parent && scope.has(result)) parent.add(result);
    return result;
  }
  const kept = new Set<Disposable>();
  collect(result, kept);
  for (const t of scope) if (!kept.has(t) && !t.isDisposed) t.dispose();
  scopes.pop();
  if (parent) for (const t of kept) if (scope.has(t)) parent.add(t);
  return result;
}

/** Disposes every tensor in a value (a tensor, array, map or plain object of them). */
export function dispose(value: unknown): void {
  const all = new Set<Disposable>();
  collect(value, all);
  for (const t of all) if (!t.isDisposed) t.dispose();
}
