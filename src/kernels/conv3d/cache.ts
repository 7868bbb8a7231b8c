/**
 * The tuner's choices kept on disk per adapter, so that `--tune-convs` times only the problems this adapter has
 * not met yet. One JSON file per adapter identity (Dawn's description of the adapter: vendor, architecture,
 * device, description with the driver, backend and feature level; and the runtime's knobs, which shape every
 * plan), named by a hash of it, in conv3dCacheDir():
 *
 *   { "format": 1, "identity": {…}, "entries": { "<problem key>": { "problem", "candidate", "candidates" } } }
 *
 * An entry records the names of the candidates the problem had when it was tuned: when the candidate set
 * changes (a kernel added or removed), its old entries are ignored and those problems are tuned again. A file
 * that cannot be read or parsed is ignored with a warning naming it, never fatal; writes go to a temporary file
 * renamed over the old one, so that a reader sees the old file or the new one, never half of one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { convGeometry } from '../geometry.js';
import type { WebGPUBackend } from '../webgpu/index.js';
import type { HasLimits } from './plan.js';
import { candidateName, conv3dCandidates, conv3dProblemKey, conv3dTuning, type Conv3dCandidate, type Conv3dProblem } from './webgpu.js';

/** bumped when the file's layout changes (older files are then ignored) */
const FORMAT = 1;

/** What the choices hold for: the adapter as Dawn describes it and the knobs every plan depends on. */
export interface Conv3dCacheIdentity {
  adapter: string;
  knobs: Record<string, number | boolean | string>;
}

/** Where one adapter's choices are kept. */
export interface Conv3dChoiceCache {
  file: string;
  identity: Conv3dCacheIdentity;
}

/** One problem's choice as stored. */
export interface Conv3dCachedChoice {
  problem: Conv3dProblem;
  candidate: Conv3dCandidate;
}

interface CacheEntry extends Conv3dCachedChoice {
  /** the names of the problem's candidates when it was tuned */
  candidates: string[];
}

/** $VOXGRAD_CACHE_DIR, else $XDG_CACHE_HOME/voxgrad, else ~/.cache/voxgrad. */
export function conv3dCacheDir(): string {
  const env = process.env;
  if (env.VOXGRAD_CACHE_DIR) return env.VOXGRAD_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'voxgrad');
}

/** The cache of a backend's adapter in `dir` (default conv3dCacheDir()): conv3d-<hash of its identity>.json. */
export function conv3dChoiceCache(backend: WebGPUBackend, dir = conv3dCacheDir()): Conv3dChoiceCache {
  // JSON has no Infinity: the knobs that use it (to switch a kernel off) are written as strings
  const knobs = Object.fromEntries(Object.entries(conv3dTuning(backend.rt).knobs)
    .map(([k, v]) => [k, typeof v === 'number' && !Number.isFinite(v) ? String(v) : v]));
  const identity: Conv3dCacheIdentity = { adapter: backend.description, knobs };
  const hash = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  return { file: join(dir, `conv3d-${hash}.json`), identity };
}

const candidateNames = (rt: HasLimits, p: Conv3dProblem): string[] =>
  conv3dCandidates(rt, p.op, p.xShape, p.wShape, p.params).map(candidateName);

/** The file's entries for this identity, checked; null when there is no file. Throws when it is unreadable. */
function readEntries(cache: Conv3dChoiceCache): Map<string, CacheEntry> | null {
  let text;
  try {
    text = readFileSync(cache.file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const data = JSON.parse(text) as { format?: unknown; identity?: unknown; entries?: unknown };
  if (typeof data !== 'object' || data === null || typeof data.entries !== 'object' || data.entries === null) {
    throw new Error('not a conv3d choice cache (no entries)');
  }
  const entries = new Map<string, CacheEntry>();
  // another format or identity (a hash collision, a copied file): nothing in it holds for this adapter
  if (data.format !== FORMAT || JSON.stringify(data.identity) !== JSON.stringify(cache.identity)) return entries;
  for (const [key, value] of Object.entries(data.entries as Record<string, unknown>)) {
    const e = value as Partial<CacheEntry>;
    if (!e.problem || !e.candidate || !Array.isArray(e.candidates)) throw new Error(`entry '${key}' lacks its problem, candidate or candidates`);
    convGeometry(e.problem.xShape, e.problem.wShape, e.problem.params);
    if (conv3dProblemKey(e.problem) !== key) throw new Error(`entry '${key}' holds the problem ${conv3dProblemKey(e.problem)}`);
    entries.set(key, e as CacheEntry);
  }
  return entries;
}

/**
 * The cached choices that hold for `rt` now: entries whose problem still has the candidates it was tuned among
 * and whose candidate can compute it. `warn` hears of a file that cannot be used (it is then ignored).
 */
export function readConv3dChoices(cache: Conv3dChoiceCache, rt: HasLimits, warn: (line: string) => void): Conv3dCachedChoice[] {
  try {
    const current: Conv3dCachedChoice[] = [];
    for (const e of readEntries(cache)?.values() ?? []) {
      const names = candidateNames(rt, e.problem);
      if (names.length !== e.candidates.length || names.some((n, i) => n !== e.candidates[i])) continue;
      if (names.includes(candidateName(e.candidate))) current.push({ problem: e.problem, candidate: e.candidate });
    }
    return current;
  } catch (e) {
    warn(`conv3d choice cache ${cache.file} is unreadable (${(e as Error).message.split('\n')[0]}); ignoring it`);
    return [];
  }
}

/**
 * Adds `choices` to the cache file (keeping the other problems' entries of a readable file for this identity),
 * written to a temporary file then renamed over it. A failure to write is reported to `warn`, never thrown.
 */
export function writeConv3dChoices(cache: Conv3dChoiceCache, rt: HasLimits, choices: readonly Conv3dCachedChoice[], warn: (line: string) => void): void {
  let entries: Map<string, CacheEntry>;
  try {
    entries = readEntries(cache) ?? new Map();
  } catch {
    entries = new Map(); // unreadable: replaced (readConv3dChoices has warned about it)
  }
  for (const { problem, candidate } of choices) {
    entries.set(conv3dProblemKey(problem), { problem, candidate, candidates: candidateNames(rt, problem) });
  }
  const text = `${JSON.stringify({ format: FORMAT, identity: cache.identity, entries: Object.fromEntries(entries) }, null, 1)}\n`;
  const tmp = `${cache.file}.${process.pid}.${Date.now()}.tmp`;
  let written = false;
  try {
    mkdirSync(dirname(cache.file), { recursive: true });
    writeFileSync(tmp, text, { flag: 'wx' });
    written = true;
    renameSync(tmp, cache.file);
  } catch (e) {
    if (written) rmSync(tmp, { force: true });
    warn(`conv3d choice cache ${cache.file}: could not write it (${(e as Error).message.split('\n')[0]})`);
  }
}
