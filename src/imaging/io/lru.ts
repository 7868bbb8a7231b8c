/**
 * The bounded least-recently-used cache of loaded cases that every case source keeps (LA, BraTS, synthetic).
 * A capacity of 0 (or less) keeps nothing.
 */
export class Lru<V> {
  readonly #map = new Map<string, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#map.size;
  }

  /** The value under key, now the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const hit = this.#map.get(key);
    if (hit) {
      this.#map.delete(key);
      this.#map.set(key, hit);
    }
    return hit;
  }

  /** Stores value as the most recently used and drops the least recently used beyond the capacity; false when nothing is kept. */
  set(key: string, value: V): boolean {
    if (this.capacity <= 0) return false;
    this.#map.set(key, value);
    while (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value as string);
    return true;
  }

  /** Drops key if it still holds value. */
  deleteIf(key: string, value: V): void {
    if (this.#map.get(key) === value) this.#map.delete(key);
  }
}

/**
 * The promise cached under key, else load()'s, cached; a load that rejects is dropped again (unless a newer one
 * replaced it meanwhile), so that a later call retries.
 */
export function cachedLoad<T>(cache: Lru<Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  const hit = cache.get(key);
  if (hit) return hit;
  const p = load();
  if (cache.set(key, p)) p.catch(() => cache.deleteIf(key, p));
  return p;
}
