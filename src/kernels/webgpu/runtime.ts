import type { DType, MemoryStats, Storage, TypedArray } from '../backend.js';
import { bytesPerElement, typedArrayFor } from '../backend.js';

/** A plain copy of a Dawn object's fields (its getters each call into Dawn). */
function plainCopy<T extends object>(o: T): T {
  const copy: Record<string, unknown> = {};
  for (const key in o) copy[key] = o[key];
  return copy as T;
}

/** A storage on the GPU: a pooled buffer (of `bufferBytes`, its size class) of at least `length` elements. */
export class GpuStorage implements Storage {
  readonly backend = 'webgpu' as const;
  /** set by the runtime's free (its buffer may already belong to another storage) */
  freed = false;
  constructor(readonly buffer: GPUBuffer, readonly dtype: DType, readonly length: number, readonly bufferBytes: number) {}
  get byteLength(): number { return this.length * bytesPerElement[this.dtype]; }
}

export function gpuBuffer(s: Storage): GPUBuffer {
  if (!(s instanceof GpuStorage)) throw new Error(`webgpu backend: got a storage of the '${s.backend}' backend`);
  return s.buffer;
}

/** Size classes: powers of two up to 1 MiB, then eighths of an octave (at most 12.5 % waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  const pow = b <= 2 ** 30 ? 1 << (32 - Math.clz32(b - 1)) : 2 ** Math.ceil(Math.log2(b));
  if (pow <= 1 << 20) return pow;
  const step = pow / 16;
  return Math.ceil(b / step) * step;
}

/**
 * a parameter block's room in the uniform buffer, and the stride of the dynamic offsets: WebGPU caps
 * minUniformBufferOffsetAlignment at 256, so any device's alignment divides it
 */
const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 2048;
/** the bind-group cache starts over past this many entries (shapes that keep changing would grow it) */
const MAX_BIND_GROUPS = 16384;
/** timestamp pairs per query set (WebGPU allows 4096 queries in one set) */
const QUERIES_PER_SET = 2048;
/**
 * The device-side error word's bytes (see wgslIndexCheck): failures counted, then the first failure's site, index,
 * bound and element; padded to 32 bytes, so that the data after it in a staging buffer stays 8-byte aligned.
 */
const ERROR_WORD_BYTES = 32;

/**
 * a cached bind group, the uniform slot it binds (−1: none, or the kernel's dynamic offset picks it) and the next
 * one whose key has the same hash
 */
interface CachedBindGroup { kernel: Kernel; ids: readonly number[]; slot: number; bindGroup: GPUBindGroup; next: CachedBindGroup | null }

/** a parameter block's words (a copy: the caller's buffer is not kept) and its slot, chained as CachedBindGroup */
interface UniformSlot { words: Uint32Array; slot: number; next: UniformSlot | null }

const HASH_SEED = 0x811c9dc5 | 0;
/** keys that fit V8's small integers, which Map hashes fastest */
export const SMI_MASK = 0x3fffffff;
/**
 * One step of a multiplicative hash over 32-bit words: the host-side caches key their entries by such numeric
 * hashes (building and hashing a string key per call cost more than the rest of a lookup) and resolve
 * collisions by comparing the keys.
 */
export const mixHash = (hash: number, word: number): number => Math.imul(hash ^ word, 0x01000193) ^ (hash >>> 15);

/** mixHash over a list's length and its numbers */
export function mixNumbers(hash: number, values: readonly number[]): number {
  hash = mixHash(hash, values.length);
  for (let i = 0; i < values.length; i++) hash = mixHash(hash, values[i]!);
  return hash;
}

/** whether two lists hold the same numbers */
export function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a === b || (a.length === b.length && sameIds(a, b, a.length));
}

/** whether a is the first n numbers of b */
function sameIds(a: ArrayLike<number>, b: ArrayLike<number>, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** inserts `value` at `at` (splice would allocate the array of removed elements it returns) */
function insertAt<T>(list: T[], at: number, value: T): void {
  list.push(value);
  for (let i = list.length - 1; i > at; i--) list[i] = list[i - 1]!;
  list[at] = value;
}

/** a buffer's id (bind-group keys, the pool's order), kept on the buffer: a property read costs less than a WeakMap's lookup */
const BUFFER_ID = Symbol('voxgrad buffer id');
type IdentifiedBuffer = GPUBuffer & { [BUFFER_ID]?: number };
let nextBufferId = 0;

export interface Kernel {
  /** identifies the kernel in the bind-group cache */
  readonly id: number;
  readonly module: GPUShaderModule;
  /** its bindings, from the WGSL (see bindingTypes) */
  readonly types: readonly BindingType[];
  /** storage bindings the WGSL declares, in binding order; the uniform (if any) follows them */
  readonly storageBindings: number;
  /** whether the WGSL declares the parameters' uniform */
  readonly takesParams: boolean;
  /**
   * whether the uniform is bound at a dynamic offset, which the runtime switches to when the same buffers come
   * with a second parameter block (see dispatch); until then each bind group binds its block's slot
   */
  dynamic: boolean;
  pipeline: GPUComputePipeline;
  /** the pipeline's bind group layout */
  layout: GPUBindGroupLayout;
}

/** how a WGSL binding is declared: a storage buffer read-only or read-write, or the parameters' uniform */
export type BindingType = 'read' | 'read_write' | 'uniform';

/**
 * The types of a kernel's bindings 0…n−1 of group 0, read from its WGSL declarations: storage buffers first, then
 * at most one uniform. The runtime builds the bind group layouts from them (an 'auto' layout cannot give the
 * uniform a dynamic offset).
 */
export function bindingTypes(key: string, source: string, storageBindings: number): BindingType[] {
  const types: BindingType[] = [];
  for (const m of source.matchAll(/@group\(\s*(\d+)\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var<\s*(storage|uniform)\s*(?:,\s*(read|read_write)\s*)?>/g)) {
    if (m[1] !== '0') throw new Error(`webgpu: kernel ${key} declares a binding in group ${m[1]}; kernels bind group 0 only`);
    const binding = Number(m[2]);
    if (types[binding] !== undefined) throw new Error(`webgpu: kernel ${key} declares binding ${binding} twice`);
    types[binding] = m[3] === 'uniform' ? 'uniform' : (m[4] ?? 'read') as BindingType;
  }
  const valid = (types.length === storageBindings || types.length === storageBindings + 1)
    && Array.from(types, (t, i) => (i < storageBindings ? t === 'read' || t === 'read_write' : t === 'uniform')).every(Boolean);
  if (!valid) {
    throw new Error(`webgpu: kernel ${key} must declare storage buffers at bindings 0…${storageBindings - 1} `
      + `and at most a uniform after them, got [${Array.from(types, (t) => t ?? 'none').join(', ')}]`);
  }
  return types;
}

/**
 * Owns the device's queue: a pipeline cache, one open command encoder and compute pass that many dispatches
 * share, a uniform buffer of parameter blocks, cached bind groups, and a buffer pool by size class. A freed buffer
 * is reusable at once, even by the dispatch right after the last one that read it: WebGPU orders the
 * dispatches of a queue (each is its own usage scope, so the implementation places the barriers), and host
 * writes (`write`) submit the recorded work first. This is what keeps a training step's footprint near its
 * live bytes, as PyTorch's stream-ordered caching allocator does.
 */
export class GpuRuntime {
  private pipelines = new Map<string, Kernel>();
  /** bind group layouts and their pipeline layouts by the binding types, joined, and whether the uniform's offset is dynamic */
  private layouts = new Map<string, { bindGroup: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  /** the pipeline last set, and the pass it was set on */
  private pipelineSet: GPUComputePipeline | null = null;
  private pipelineSetOn: GPUComputePassEncoder | null = null;
  private readonly uniforms: GPUBuffer;
  /** parameter blocks by the hash of their words → the blocks and their slots in `uniforms` (written once) */
  private uniformSlots = new Map<number, UniformSlot>();
  private uniformSlotCount = 0;
  /** the slot of each block of Params seen (by its id: Params hands out one read-only buffer per distinct block) */
  private slotByBlock = new Map<number, number>();
  /**
   * bind groups by the hash of (kernel, buffers) → the entries with that hash (a training step repeats the same
   * ones, see free); numeric keys, because building and hashing a string key per dispatch cost more than the rest
   * of the lookup. The parameters' slot is not part of the key: see dispatch.
   */
  private bindGroups = new Map<number, CachedBindGroup>();
  private bindGroupCount = 0;
  /**
   * the dispatches recorded and not yet encoded (see encodePending), in their first pendingCount entries: pipeline,
   * bind group, the uniform's offset (−1: no parameters), workgroups x, y, z (the entries past pendingCount are
   * encoded ones, overwritten by later dispatches)
   */
  private readonly pendingPipelines: GPUComputePipeline[] = [];
  private readonly pendingBindGroups: GPUBindGroup[] = [];
  private readonly pendingOffsets: number[] = [];
  private readonly pendingGroups: number[] = [];
  /**
   * the dynamic offset handed to setBindGroup, reused: no array per dispatch (Dawn's Node bindings took 0.5 µs
   * longer per call for the (Uint32Array, start, length) form)
   */
  private readonly dynamicOffsets = [0];
  private pendingCount = 0;
  /** the buffer ids of the dispatch being recorded, in its first entries (reused: no array per dispatch) */
  private readonly dispatchIds: number[] = [];
  /** the idle buffers of each size class and their ids (see free), ascending */
  private pool = new Map<number, { buffers: GPUBuffer[]; ids: number[] }>();
  /** the pool's size classes, ascending */
  private poolClasses: number[] = [];
  private liveCount = 0;
  private liveBytes = 0;
  /** highest liveBytes since creation or resetPeak() */
  peakBytes = 0;
  /** highest liveBytes + pooledBytes (what the driver has given us, as torch.cuda.max_memory_reserved) */
  peakReservedBytes = 0;
  /** the bytes the live storages asked for (their buffers may be larger: size classes, best fit) */
  private requestedBytes = 0;
  /** highest requestedBytes (as torch.cuda.max_memory_allocated) */
  peakRequestedBytes = 0;
  private pooledBytes = 0;
  private pooledCount = 0;
  private lostReason: string | null = null;
  private firstError: string | null = null;
  /** total dispatches since creation, for benchmarks */
  dispatchCount = 0;
  /** bind groups created since creation (the rest of the dispatches found theirs cached), for tests and benchmarks */
  bindGroupsCreated = 0;
  /** recorded work is submitted after this many dispatches, so the GPU starts while the host keeps encoding */
  dispatchesPerSubmit = 512;
  private profile: { sets: GPUQuerySet[]; labels: string[] } | null = null;
  /** the device-side error word that checking kernels bind (wgslIndexCheck); every readback copies and clears it */
  readonly errorWord: GPUBuffer;
  /** what each site that reports into the error word checks, by its code − 1 (see errorSite) */
  private readonly errorSites: ((index: number, bound: number, element: number) => string)[] = [];
  private readonly errorSiteCodes = new Map<string, number>();

  /** `software`: the adapter is a CPU rasteriser such as llvmpipe (some kernel defaults differ there) */
  constructor(readonly device: GPUDevice, readonly software = false) {
    this.limits = plainCopy(device.limits);
    this.uniforms = device.createBuffer({ size: UNIFORM_SLOT * UNIFORM_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.errorWord = device.createBuffer({ size: ERROR_WORD_BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lostReason = `${info.reason}: ${info.message}`;
    });
    device.addEventListener('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      this.firstError ??= e.message;
    });
  }

  /** the device's limits as a plain object (each read of a GPUSupportedLimits field is a call into Dawn) */
  readonly limits: GPUSupportedLimits;

  /** throws when the device was lost or a GPU error was reported */
  check(): void {
    if (this.lostReason) throw new Error(`webgpu: the device was lost (${this.lostReason}); restart the process`);
    if (this.firstError) {
      const message = this.firstError;
      this.firstError = null;
      throw new Error(`webgpu: ${message}`);
    }
  }

  /**
   * The code a kernel passes to reportBadIndex (wgslIndexCheck) for one kind of check, registered once per key;
   * `describe` words the failure the way the cpu oracle does (the readback adds that the device reported it).
   */
  errorSite(key: string, describe: (index: number, bound: number, element: number) => string): number {
    let code = this.errorSiteCodes.get(key);
    if (code === undefined) {
      code = this.errorSites.push(describe);
      this.errorSiteCodes.set(key, code);
    }
    return code;
  }

  kernel(key: string, source: () => string, storageBindings: number): Kernel {
    let k = this.pipelines.get(key);
    if (!k) {
      const code = source();
      const types = bindingTypes(key, code, storageBindings);
      const module = this.device.createShaderModule({ code, label: key });
      const takesParams = types.length > storageBindings;
      k = { id: this.pipelines.size, module, types, storageBindings, takesParams, dynamic: false, ...this.pipeline(module, types, false, key) };
      this.pipelines.set(key, k);
    }
    return k;
  }

  private pipeline(module: GPUShaderModule, types: readonly BindingType[], dynamic: boolean, label: string):
    { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const layout = this.layout(types, dynamic);
    const pipeline = this.device.createComputePipeline({ layout: layout.pipeline, compute: { module, entryPoint: 'main' }, label });
    return { pipeline, layout: layout.bindGroup };
  }

  private layout(types: readonly BindingType[], dynamic: boolean): { bindGroup: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${types.join(',')}${dynamic ? ':dynamic' : ''}`;
    let layout = this.layouts.get(key);
    if (!layout) {
      const bufferType = { read: 'read-only-storage', read_write: 'storage', uniform: 'uniform' } as const;
      const bindGroup = this.device.createBindGroupLayout({
        entries: types.map((type, binding) => ({
          binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: bufferType[type], hasDynamicOffset: dynamic && type === 'uniform' },
        })),
        label: key,
      });
      layout = { bindGroup, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [bindGroup], label: key }) };
      this.layouts.set(key, layout);
    }
    return layout;
  }

  alloc(length: number, dtype: DType): GpuStorage {
    this.check();
    const bytes = sizeClass(length * bytesPerElement[dtype]);
    const max = this.limits.maxBufferSize;
    if (bytes > max) {
      throw new Error(`webgpu: a ${dtype} storage of ${length} elements (${bytes} bytes) exceeds the device's maxBufferSize ${max}`);
    }
    const pooledBytes = this.pooledClass(bytes);
    let buffer: GPUBuffer | undefined;
    if (pooledBytes) {
      const idle = this.pool.get(pooledBytes)!;
      buffer = idle.buffers.pop();
      idle.ids.pop();
    }
    const bufferBytes = pooledBytes || bytes;
    if (buffer) {
      this.pooledBytes -= bufferBytes;
      this.pooledCount--;
    } else {
      this.peakReservedBytes = Math.max(this.peakReservedBytes, this.liveBytes + this.pooledBytes + bytes);
      this.device.pushErrorScope('out-of-memory');
      buffer = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      void this.device.popErrorScope().then((err) => {
        if (err) this.firstError ??= `out of GPU memory allocating ${bytes} bytes (live ${this.liveBytes} bytes): ${err.message}`;
      });
    }
    this.liveCount++;
    this.liveBytes += bufferBytes;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    this.requestedBytes += length * bytesPerElement[dtype];
    this.peakRequestedBytes = Math.max(this.peakRequestedBytes, this.requestedBytes);
    return new GpuStorage(buffer, dtype, length, bufferBytes);
  }

  /**
   * The size class whose idle buffer serves a request of `bytes` (a size class), 0 for none: that class, else
   * the smallest class with an idle buffer up to twice as large. Without the second rule every class would keep
   * its own peak count of buffers, and a step whose classes peak at different times would reserve far more than
   * it ever has live. A larger buffer is never one past the storage-binding limit (kernels bind whole buffers).
   */
  private pooledClass(bytes: number): number {
    if (this.pool.get(bytes)?.ids.length) return bytes;
    const most = Math.min(2 * bytes, this.limits.maxStorageBufferBindingSize);
    const classes = this.poolClasses;
    let lo = 0, hi = classes.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (classes[mid]! <= bytes) lo = mid + 1; else hi = mid; }
    for (let i = lo; i < classes.length && classes[i]! <= most; i++) if (this.pool.get(classes[i]!)!.ids.length) return classes[i]!;
    return 0;
  }

  free(s: GpuStorage): void {
    if (s.freed) throw new Error('webgpu: storage freed twice');
    s.freed = true;
    this.liveCount--;
    const bytes = s.bufferBytes;
    this.liveBytes -= bytes;
    this.requestedBytes -= s.byteLength;
    // each class's idle buffers stay ordered by id and the highest goes out first: which buffer an allocation
    // gets depends on the set of idle buffers, not on the order they were freed in, so every iteration of a
    // training loop hands out the same buffers and its dispatches find their bind groups cached (LIFO reuse
    // would permute them from one iteration to the next)
    const idle = this.pool.get(bytes), id = this.bufferId(s.buffer);
    if (idle) {
      const ids = idle.ids;
      let lo = 0, hi = ids.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (ids[mid]! < id) lo = mid + 1; else hi = mid; }
      insertAt(ids, lo, id);
      insertAt(idle.buffers, lo, s.buffer);
    } else {
      this.pool.set(bytes, { buffers: [s.buffer], ids: [id] });
      const at = this.poolClasses.findIndex((c) => c > bytes);
      this.poolClasses.splice(at < 0 ? this.poolClasses.length : at, 0, bytes);
    }
    this.pooledBytes += bytes;
    this.pooledCount++;
  }

  /** drop every pooled buffer (returns their memory to the driver) */
  trim(): void {
    this.flush(); // a destroyed buffer must not be used by unsubmitted commands
    this.clearBindGroups(); // nor named by a cached bind group
    for (const idle of this.pool.values()) for (const b of idle.buffers) b.destroy();
    this.pool.clear();
    this.poolClasses = [];
    this.pooledBytes = 0;
    this.pooledCount = 0;
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
    this.peakReservedBytes = this.liveBytes + this.pooledBytes;
    this.peakRequestedBytes = this.requestedBytes;
  }

  memory(): MemoryStats {
    return { liveBuffers: this.liveCount, liveBytes: this.liveBytes, pooledBuffers: this.pooledCount, pooledBytes: this.pooledBytes };
  }

  /** Records one dispatch: storage buffers at bindings 0…n−1, the parameters (if any) at binding n. */
  dispatch(kernel: Kernel, buffers: readonly GPUBuffer[], params: ArrayBuffer | null,
    workgroups: readonly [number, number?, number?]): void {
    this.check();
    const n = buffers.length;
    if (n !== kernel.storageBindings) {
      throw new Error(`webgpu: kernel ${kernel.pipeline.label} takes ${kernel.storageBindings} buffers, got ${n}`);
    }
    if ((params !== null) !== kernel.takesParams) {
      throw new Error(`webgpu: kernel ${kernel.pipeline.label} ${kernel.takesParams ? 'takes parameters, got none' : 'takes no parameters'}`);
    }
    const x = workgroups[0], y = workgroups[1] ?? 1, z = workgroups[2] ?? 1;
    if (x === 0 || y === 0 || z === 0) return;
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new Error(`webgpu: kernel ${kernel.pipeline.label} dispatch [${x}, ${y}, ${z}] exceeds ${maxGroups} workgroups per dimension`);
    }
    const slot = params ? this.uniformSlot(params) : -1;
    const ids = this.dispatchIds;
    let hash = mixHash(HASH_SEED, kernel.id);
    for (let i = 0; i < n; i++) { const id = this.bufferId(buffers[i]!); ids[i] = id; hash = mixHash(hash, id); }
    hash &= SMI_MASK;
    let cached = this.bindGroups.get(hash);
    while (cached && !(cached.kernel === kernel && sameIds(cached.ids, ids, n))) cached = cached.next ?? undefined;
    // A bind group that binds its parameters' slot costs nothing per dispatch, but a kernel whose parameters change
    // on every call (Adam's bias corrections, a scheduled learning rate) would need a new one each time. A dynamic
    // offset serves every slot with one bind group, at 0.5 µs more per setBindGroup (Dawn's Node bindings, on
    // llvmpipe): so a kernel switches to it when the same buffers come with a second parameter block.
    if (cached && !kernel.dynamic && cached.slot !== slot) {
      Object.assign(kernel, { dynamic: true }, this.pipeline(kernel.module, kernel.types, true, kernel.pipeline.label));
      this.dropBindGroups((entry) => entry.kernel !== kernel);
      cached = undefined;
    }
    cached ??= this.createBindGroup(kernel, buffers, slot, hash);
    const offset = kernel.dynamic ? slot * UNIFORM_SLOT : -1;
    if (this.profile) {
      this.encodePending();
      this.encode(this.profiledPass(kernel.pipeline.label), kernel.pipeline, cached.bindGroup, offset, x, y, z);
    } else {
      const i = this.pendingCount++;
      this.pendingPipelines[i] = kernel.pipeline;
      this.pendingBindGroups[i] = cached.bindGroup;
      this.pendingOffsets[i] = offset;
      this.pendingGroups[3 * i] = x;
      this.pendingGroups[3 * i + 1] = y;
      this.pendingGroups[3 * i + 2] = z;
    }
    this.dispatchCount++;
    if (++this.dispatches >= this.dispatchesPerSubmit) this.flush();
  }

  /**
   * Encodes the dispatches recorded since the last call, in order (before any copy or submit). Making the calls
   * into Dawn here, back to back, instead of each amid the host code of the kernels around it, made a V-Net
   * training step's host time 1.2× lower (presumably the native code and the JavaScript evict each other's caches
   * less).
   */
  private encodePending(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    const pass = this.computePass(), groups = this.pendingGroups;
    for (let i = 0; i < n; i++) {
      this.encode(pass, this.pendingPipelines[i]!, this.pendingBindGroups[i]!, this.pendingOffsets[i]!, groups[3 * i]!, groups[3 * i + 1]!, groups[3 * i + 2]!);
    }
  }

  /** `offset`: the uniform's dynamic offset, −1 for a kernel without parameters */
  private encode(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, offset: number,
    x: number, y: number, z: number): void {
    // consecutive dispatches of one kernel (each call into Dawn costs the host a few µs)
    if (pass !== this.pipelineSetOn || pipeline !== this.pipelineSet) {
      pass.setPipeline(pipeline);
      this.pipelineSetOn = pass;
      this.pipelineSet = pipeline;
    }
    if (offset < 0) pass.setBindGroup(0, bindGroup);
    else {
      this.dynamicOffsets[0] = offset;
      pass.setBindGroup(0, bindGroup, this.dynamicOffsets);
    }
    pass.dispatchWorkgroups(x, y, z);
  }

  private createBindGroup(kernel: Kernel, buffers: readonly GPUBuffer[], slot: number, hash: number): CachedBindGroup {
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    // with a dynamic offset, the first slot's range: each dispatch moves it to its own slot
    const boundSlot = kernel.dynamic ? -1 : slot;
    const offset = kernel.dynamic ? 0 : slot * UNIFORM_SLOT;
    if (kernel.takesParams) entries.push({ binding: buffers.length, resource: { buffer: this.uniforms, offset, size: UNIFORM_SLOT } });
    if (this.bindGroupCount >= MAX_BIND_GROUPS) this.clearBindGroups();
    const bindGroup = this.device.createBindGroup({ layout: kernel.layout, entries });
    const cached: CachedBindGroup = { kernel, ids: this.dispatchIds.slice(0, buffers.length), slot: boundSlot, bindGroup, next: this.bindGroups.get(hash) ?? null };
    this.bindGroups.set(hash, cached);
    this.bindGroupCount++;
    this.bindGroupsCreated++;
    return cached;
  }

  private clearBindGroups(): void {
    this.bindGroups.clear();
    this.bindGroupCount = 0;
  }

  /** keeps the cached bind groups that `keep` accepts */
  private dropBindGroups(keep: (entry: CachedBindGroup) => boolean): void {
    for (const [hash, head] of this.bindGroups) {
      let first: CachedBindGroup | null = null, last: CachedBindGroup | null = null;
      for (let entry: CachedBindGroup | null = head; entry; entry = entry.next) {
        if (!keep(entry)) { this.bindGroupCount--; continue; }
        if (last) last.next = entry; else first = entry;
        last = entry;
      }
      if (last) last.next = null;
      if (first) this.bindGroups.set(hash, first); else this.bindGroups.delete(hash);
    }
  }

  /**
   * The slot of a parameter block in the uniform buffer. Each distinct block is written once (queue-ordered before
   * any submit that reads it) and keeps its slot. When the slots run out, the recorded work is submitted first and
   * the slots (and the bind groups that bind one) start over: a rewrite is queue-ordered after the submits that
   * read the old contents.
   */
  private uniformSlot(params: ArrayBuffer): number {
    if (params.byteLength > UNIFORM_SLOT || params.byteLength % 4 !== 0) {
      throw new Error(`webgpu: parameters of ${params.byteLength} bytes: expected whole 32-bit words, at most ${UNIFORM_SLOT} bytes`);
    }
    const block = (params as ParamsBlock)[BLOCK_ID];
    const known = block === undefined ? undefined : this.slotByBlock.get(block);
    if (known !== undefined) return known;
    const words = new Uint32Array(params);
    let hash = mixHash(HASH_SEED, words.length);
    for (let i = 0; i < words.length; i++) hash = mixHash(hash, words[i]!);
    hash &= SMI_MASK;
    let entry = this.uniformSlots.get(hash);
    while (entry && !sameIds(entry.words, words, words.length)) entry = entry.next ?? undefined;
    if (entry) { if (block !== undefined) this.slotByBlock.set(block, entry.slot); return entry.slot; }
    if (this.uniformSlotCount >= UNIFORM_SLOTS) {
      this.flush();
      this.uniformSlots.clear();
      this.slotByBlock.clear();
      this.uniformSlotCount = 0;
      this.dropBindGroups((entry) => entry.slot < 0);
    }
    const slot = this.uniformSlotCount++;
    if (block !== undefined) this.slotByBlock.set(block, slot);
    this.uniformSlots.set(hash, { words: words.slice(), slot, next: this.uniformSlots.get(hash) ?? null });
    this.device.queue.writeBuffer(this.uniforms, slot * UNIFORM_SLOT, params, 0, params.byteLength);
    return slot;
  }

  private bufferId(buffer: GPUBuffer): number {
    return (buffer as IdentifiedBuffer)[BUFFER_ID] ??= nextBufferId++;
  }

  /** While profiling, every dispatch gets a pass of its own with begin/end timestamps. */
  private profiledPass(label: string): GPUComputePassEncoder {
    const prof = this.profile!;
    if (this.pass) { this.pass.end(); this.pass = null; }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    const slot = prof.labels.length % QUERIES_PER_SET;
    if (slot === 0) prof.sets.push(this.device.createQuerySet({ type: 'timestamp', count: 2 * QUERIES_PER_SET }));
    prof.labels.push(label);
    this.pass = this.encoder.beginComputePass({
      timestampWrites: { querySet: prof.sets[prof.sets.length - 1], beginningOfPassWriteIndex: 2 * slot, endOfPassWriteIndex: 2 * slot + 1 },
    });
    return this.pass;
  }

  get hasTimestamps(): boolean { return this.device.features.has('timestamp-query'); }

  /** Starts recording GPU time per dispatch (needs the timestamp-query feature). */
  startProfiling(): void {
    if (!this.hasTimestamps) throw new Error('webgpu: this device has no timestamp-query feature; profile with wall-clock time instead');
    this.flush();
    this.profile = { sets: [], labels: [] };
  }

  /** Stops profiling; returns the GPU time of each recorded dispatch, in order, with its kernel key. */
  async stopProfiling(): Promise<{ label: string; ms: number }[]> {
    const prof = this.profile;
    if (!prof) throw new Error('webgpu: stopProfiling without startProfiling');
    this.profile = null;
    const n = prof.labels.length;
    if (n === 0) return [];
    const resolve = this.device.createBuffer({ size: prof.sets.length * QUERIES_PER_SET * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    try {
      const t = await this.readBack(n * 16, (enc, staging, at) => {
        prof.sets.forEach((set, i) => {
          const count = Math.min(QUERIES_PER_SET, n - i * QUERIES_PER_SET);
          enc.resolveQuerySet(set, 0, 2 * count, resolve, i * QUERIES_PER_SET * 16);
        });
        enc.copyBufferToBuffer(resolve, 0, staging, at, n * 16);
      }, (mapped, at) => new BigUint64Array(mapped.slice(at)));
      return prof.labels.map((label, i) => ({ label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
    } finally {
      resolve.destroy();
      for (const set of prof.sets) set.destroy();
    }
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  /** an encoder with no open compute pass (the recorded dispatches encoded before), for copies */
  private copyEncoder(): GPUCommandEncoder {
    this.encodePending();
    if (this.pass) { this.pass.end(); this.pass = null; }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.copyEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.encodePending();
    if (!this.encoder) return;
    if (this.pass) { this.pass.end(); this.pass = null; }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.dispatches = 0;
  }

  /** Writes host data into a storage, ordered after everything recorded so far. */
  write(s: GpuStorage, data: TypedArray): void {
    this.flush();
    this.device.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(s: GpuStorage): Promise<TypedArray> {
    const bytes = Math.ceil(s.byteLength / 4) * 4;
    const out = typedArrayFor(s.dtype, s.length);
    if (bytes === 0) return out;
    return this.readBack(bytes, (enc, staging, at) => enc.copyBufferToBuffer(s.buffer, 0, staging, at, bytes), (mapped, at) => {
      new Uint8Array(out.buffer).set(new Uint8Array(mapped, at, bytes));
      return out;
    });
  }

  /** Waits for the work recorded so far; throws what the device reported (see readBack), as torch.cuda.synchronize. */
  async sync(): Promise<void> {
    await this.readBack(0, () => undefined, () => undefined);
  }

  /**
   * Every readback: `record` copies `bytes` into a staging buffer at offset `at`, after everything recorded so far;
   * in the same submit the device-side error word is copied to the staging buffer's start and cleared. Once mapped,
   * `take` copies the data out; then a set word throws the first failure it recorded (CUDA reports a device-side
   * assert the same way: at the next synchronization, not at the kernel that failed).
   */
  private async readBack<T>(bytes: number, record: (enc: GPUCommandEncoder, staging: GPUBuffer, at: number) => void,
    take: (mapped: ArrayBuffer, at: number) => T): Promise<T> {
    const staging = this.device.createBuffer({ size: ERROR_WORD_BYTES + bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const enc = this.copyEncoder();
      record(enc, staging, ERROR_WORD_BYTES);
      enc.copyBufferToBuffer(this.errorWord, 0, staging, 0, ERROR_WORD_BYTES);
      enc.clearBuffer(this.errorWord);
      this.flush();
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (e) {
        this.check();
        throw new Error(`webgpu: reading a storage back failed: ${(e as Error).message}`);
      }
      this.check();
      const mapped = staging.getMappedRange();
      const report = this.deviceErrorReport(new Uint32Array(mapped, 0, ERROR_WORD_BYTES / 4));
      const result = take(mapped, ERROR_WORD_BYTES);
      staging.unmap();
      if (report) throw new Error(report);
      return result;
    } finally {
      staging.destroy();
    }
  }

  /** the error word's first failure as the site words it, null when no check failed */
  private deviceErrorReport(word: Uint32Array): string | null {
    const [failures, site, index, bound, element] = word;
    if (failures === 0) return null;
    const describe = this.errorSites[site! - 1];
    const what = describe ? describe(index! | 0, bound!, element!) : `an unknown device-side check (site ${site}) failed`;
    const count = failures === 1 ? '1 failed index check' : `${failures} failed index checks`;
    return `${what} (reported by the device at this readback; ${count} since the last readback)`;
  }

  destroy(): void {
    this.flush();
    this.trim();
    this.device.destroy();
  }
}

const f32Value = new Float32Array(1);
const f32Bits = new Uint32Array(f32Value.buffer);

/** a parameter block Params handed out before, by the hash of its words (chained as CachedBindGroup) */
interface InternedParams { words: Uint32Array; buffer: ArrayBuffer; next: InternedParams | null }

/** whether `padded` holds `words` followed by zeros */
function samePadded(padded: Uint32Array, words: readonly number[]): boolean {
  const length = Math.max(4, Math.ceil(words.length / 4) * 4);
  if (padded.length !== length) return false;
  for (let i = 0; i < length; i++) if (padded[i] !== (i < words.length ? words[i] : 0)) return false;
  return true;
}
/** the interned blocks start over past this many (a loop whose parameters keep changing would grow them) */
const MAX_INTERNED_PARAMS = 8192;
let internedParams = new Map<number, InternedParams>();
let internedCount = 0;
/**
 * the id of each block Params handed out, kept on its buffer as BUFFER_ID is (other buffers' slots are found by
 * their bytes)
 */
const BLOCK_ID = Symbol('voxgrad parameter block id');
type ParamsBlock = ArrayBuffer & { readonly [BLOCK_ID]?: number };
let nextBlockId = 0;

/**
 * Packs a kernel's uniform parameters: 32-bit scalars in declaration order, vec4 arrays 16-aligned. The words
 * gather in a plain array; `done` returns the block as a buffer, the same (read-only) buffer for the same words,
 * so that a training step allocates no buffer per dispatch and the runtime finds its slot by identity.
 */
export class Params {
  private words: number[] = [];
  u32(...values: number[]): this { for (const v of values) this.words.push(v >>> 0); return this; }
  /** (two's complement: the same bits as u32) */
  i32(...values: number[]): this { return this.u32(...values); }
  f32(...values: number[]): this {
    for (const v of values) { f32Value[0] = v; this.words.push(f32Bits[0]!); }
    return this;
  }
  /** an array<vec4<u32|i32>, n> holding `values` (padded with zeros to 4·n) */
  vec4s(values: readonly number[], n: number): this {
    while (this.words.length % 4 !== 0) this.words.push(0);
    for (let i = 0; i < 4 * n; i++) this.words.push((values[i] ?? 0) >>> 0);
    return this;
  }
  /** the words padded with zeros to whole 16-byte rows (at least one); shared with every equal block: never write to it */
  done(): ArrayBuffer {
    const words = this.words, n = words.length;
    const length = Math.max(4, Math.ceil(n / 4) * 4);
    let hash = mixHash(HASH_SEED, length);
    for (let i = 0; i < length; i++) hash = mixHash(hash, i < n ? words[i]! : 0);
    hash &= SMI_MASK;
    let entry = internedParams.get(hash);
    while (entry && !samePadded(entry.words, words)) entry = entry.next ?? undefined;
    if (entry) return entry.buffer;
    if (internedCount >= MAX_INTERNED_PARAMS) { internedParams = new Map(); internedCount = 0; }
    const padded = new Uint32Array(length);
    padded.set(words);
    Object.defineProperty(padded.buffer, BLOCK_ID, { value: nextBlockId++ });
    internedParams.set(hash, { words: padded.slice(), buffer: padded.buffer, next: internedParams.get(hash) ?? null });
    internedCount++;
    return padded.buffer;
  }
}

/** Workgroup counts for n invocations of size wg, spread over x and y when x alone would overflow. */
export function grid1d(n: number, wg = 256, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/**
 * WGSL: the device-side error word at `binding` (bind GpuRuntime.errorWord there) and
 * `reportBadIndex(site, index, bound, element)`, which a kernel calls for an index outside [0, bound) at element
 * `element` of its index tensor, `site` being GpuRuntime.errorSite's code. The first failure's words are kept and
 * later ones only counted; the next readback throws (see GpuRuntime.readBack). The kernel still has to skip the
 * element.
 */
export function wgslIndexCheck(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> errorWord: array<atomic<u32>, ${ERROR_WORD_BYTES / 4}>;
fn reportBadIndex(site: u32, index: i32, bound: u32, element: u32) {
  if (atomicAdd(&errorWord[0], 1u) == 0u) {
    atomicStore(&errorWord[1], site);
    atomicStore(&errorWord[2], bitcast<u32>(index));
    atomicStore(&errorWord[3], bound);
    atomicStore(&errorWord[4], element);
  }
}`;
}

/**
 * WGSL: is the f32 `v` NaN, by its bits. `v != v`, `isNan`-free comparisons and max with NaN may be folded away by a
 * GPU compiler that assumes finite floats (fast-math), which a software adapter never does.
 */
export const wgslIsNaN = (v: string): string => `((bitcast<u32>(${v}) & 0x7fffffffu) > 0x7f800000u)`;

/** WGSL: the flat invocation index of a grid1d dispatch (needs gid and nwg builtins in scope). */
export const wgslFlatIndex = (wg = 256): string => `(gid.x + gid.y * nwg.x * ${wg}u)`;

/**
 * WGSL lines that split the flat index `i` of a [N·C, D, H, W] volume into the i32 coordinates named by `coords`
 * and the u32 `nc`; `sizes` are the WGSL expressions of D, H and W (e.g. P.OD, P.OH, P.OW). Declares `var t`.
 */
export function wgslUnravelNcdhw(coords: readonly [string, string, string], sizes: readonly [string, string, string]): string {
  const [d, h, w] = coords, [D, H, W] = sizes;
  return `  let ${w} = i32(i % u32(${W}));
  var t = i / u32(${W});
  let ${h} = i32(t % u32(${H}));
  t = t / u32(${H});
  let ${d} = i32(t % u32(${D}));
  let nc = t / u32(${D});`;
}

export function wgslType(dtype: DType): 'f32' | 'i32' {
  if (dtype === 'float64') throw new Error('webgpu: float64 is not supported by WGSL; use the cpu backend for float64');
  return dtype === 'int32' ? 'i32' : 'f32';
}
