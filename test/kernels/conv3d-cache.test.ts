import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Conv3dParams, Conv3dProblem } from '../../src/kernels/index.js';
import {
  candidateName, clearConv3dChoices, conv3dCandidates, conv3dPlan, conv3dTuning, tuneConv3dWithCache, WebGPUBackend,
} from '../../src/kernels/index.js';
import { conv3dCacheDir, conv3dChoiceCache, readConv3dChoices, writeConv3dChoices, type Conv3dCachedChoice } from '../../src/kernels/conv3d/cache.js';
import { webgpu } from '../helpers/backends.js';

/** The conv3d choices kept per adapter on disk (src/kernels/conv3d/cache.ts) and tuneConv3dWithCache. */

async function gpuBackend(): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return gpu;
}

const root = mkdtempSync(join(tmpdir(), 'voxgrad-conv3d-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `cache-${dirs++}`);

const P = (s: number, p: number): Conv3dParams => ({ stride: [s, s, s], padding: [p, p, p], dilation: [1, 1, 1] });
const conv3 = { xShape: [2, 4, 4, 3, 5], wShape: [8, 4, 3, 3, 3], params: P(1, 1) };
const problems: Conv3dProblem[] = [
  { op: 'forward', ...conv3, bias: true },
  { op: 'backwardWeight', ...conv3, bias: false },
  { op: 'forward', xShape: [1, 4, 4, 4, 6], wShape: [8, 4, 2, 2, 2], params: P(2, 0), bias: false },
];

/** Each problem with its last candidate (never the default, which comes first). */
function lastCandidates(gpu: WebGPUBackend): Conv3dCachedChoice[] {
  return problems.map((problem) => ({ problem, candidate: conv3dCandidates(gpu.rt, problem.op, problem.xShape, problem.wShape, problem.params).at(-1)! }));
}

const tunedLine = (gpu: WebGPUBackend, p: Conv3dProblem): string | undefined =>
  conv3dPlan(gpu.rt, p.op, p.xShape, p.wShape, p.params).split('\n').find((l) => l.startsWith('tuned: '));

describe('conv3d choice cache', () => {
  afterEach(async () => {
    clearConv3dChoices(await webgpu());
    vi.restoreAllMocks();
  });

  it('lives in $VOXGRAD_CACHE_DIR, else $XDG_CACHE_HOME/voxgrad, one file per adapter identity', async () => {
    const saved = { dir: process.env.VOXGRAD_CACHE_DIR, xdg: process.env.XDG_CACHE_HOME };
    try {
      process.env.VOXGRAD_CACHE_DIR = '/some/where';
      expect(conv3dCacheDir()).toBe('/some/where');
      delete process.env.VOXGRAD_CACHE_DIR;
      process.env.XDG_CACHE_HOME = '/xdg';
      expect(conv3dCacheDir()).toBe(join('/xdg', 'voxgrad'));
      delete process.env.XDG_CACHE_HOME;
      expect(conv3dCacheDir()).toMatch(/[/\\]\.cache[/\\]voxgrad$/);
    } finally {
      for (const [name, value] of [['VOXGRAD_CACHE_DIR', saved.dir], ['XDG_CACHE_HOME', saved.xdg]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    const gpu = await gpuBackend();
    const cache = conv3dChoiceCache(gpu, '/d');
    expect(cache.file).toMatch(/^[/\\]d[/\\]conv3d-[0-9a-f]{16}\.json$/);
    expect(cache.identity.adapter).toBe(gpu.description);
    // Infinity (a knob switching a kernel off) survives JSON as a string
    const tuning = conv3dTuning(gpu.rt), knobs = tuning.knobs;
    try {
      tuning.configure({ implicitGemmMinChannels: Infinity });
      const off = conv3dChoiceCache(gpu, '/d');
      expect(off.identity.knobs.implicitGemmMinChannels).toBe('Infinity');
      expect(off.file).not.toBe(cache.file);
    } finally {
      tuning.configure(knobs);
    }
  });

  it('round trip: written choices are read back, and tuneConv3dWithCache takes them without timing anything', async () => {
    const gpu = await gpuBackend();
    const dir = freshDir(), warnings: string[] = [];
    const cache = conv3dChoiceCache(gpu, dir);
    const choices = lastCandidates(gpu);
    writeConv3dChoices(cache, gpu.rt, choices, (l) => warnings.push(l));
    expect(readdirSync(dir)).toEqual([basename(cache.file)]);
    expect(readConv3dChoices(cache, gpu.rt, (l) => warnings.push(l))).toEqual(choices);
    const result = await tuneConv3dWithCache(gpu, problems, { cacheDir: dir, warn: (l) => warnings.push(l) });
    expect(result).toEqual({ rows: [], cached: problems, file: cache.file });
    for (const { problem, candidate } of choices) expect(tunedLine(gpu, problem)).toBe(`tuned: ${candidateName(candidate)}`);
    expect(warnings).toEqual([]);
  });

  it('retune times the problems again and replaces their entries, keeping the others', async () => {
    const gpu = await gpuBackend();
    const dir = freshDir(), warnings: string[] = [];
    const cache = conv3dChoiceCache(gpu, dir);
    const choices = lastCandidates(gpu);
    writeConv3dChoices(cache, gpu.rt, choices, (l) => warnings.push(l));
    const target = problems[2];
    const { rows, cached } = await tuneConv3dWithCache(gpu, [target], { cacheDir: dir, retune: true, reps: 1, warn: (l) => warnings.push(l) });
    expect(cached).toEqual([]);
    expect(rows.map((r) => r.name)).toEqual(conv3dCandidates(gpu.rt, target.op, target.xShape, target.wShape, target.params).map(candidateName));
    const chosen = rows.find((r) => r.chosen)!;
    expect(readConv3dChoices(cache, gpu.rt, (l) => warnings.push(l))).toEqual([...choices.slice(0, 2), { problem: target, candidate: chosen.candidate }]);
    expect(warnings).toEqual([]);
  });

  it('ignores another adapter\'s choices and the entries of a changed candidate set, silently', async () => {
    const gpu = await gpuBackend();
    const dir = freshDir(), warnings: string[] = [];
    const warn = (l: string): void => { warnings.push(l); };
    const cache = conv3dChoiceCache(gpu, dir);
    writeConv3dChoices(cache, gpu.rt, lastCandidates(gpu), warn);
    // another adapter has a file of its own
    const other: WebGPUBackend = Object.assign(Object.create(gpu) as WebGPUBackend, { description: 'webgpu: another GPU via vulkan, core feature level' });
    const otherCache = conv3dChoiceCache(other, dir);
    expect(otherCache.file).not.toBe(cache.file);
    expect(readConv3dChoices(otherCache, gpu.rt, warn)).toEqual([]);
    // and a file of another identity at this adapter's name (a hash collision, a copied file) is not used
    expect(readConv3dChoices({ file: cache.file, identity: otherCache.identity }, gpu.rt, warn)).toEqual([]);
    // an entry tuned among other candidates than the problem has now
    const data = JSON.parse(readFileSync(cache.file, 'utf8')) as { entries: Record<string, { candidates: string[] }> };
    const [staleKey] = Object.keys(data.entries);
    data.entries[staleKey].candidates.push('a kernel since removed');
    writeFileSync(cache.file, JSON.stringify(data));
    expect(readConv3dChoices(cache, gpu.rt, warn).map((e) => e.problem)).toEqual(problems.slice(1));
    expect(warnings).toEqual([]);
  });

  it('warns about an unreadable file, naming it, ignores it and replaces it with the next choices', async () => {
    const gpu = await gpuBackend();
    const dir = freshDir();
    const cache = conv3dChoiceCache(gpu, dir);
    writeConv3dChoices(cache, gpu.rt, lastCandidates(gpu), () => {});
    const good = JSON.parse(readFileSync(cache.file, 'utf8')) as { entries: Record<string, { candidate: unknown; problem: { xShape: number[] } }> };
    const [key] = Object.keys(good.entries);
    const broken = (edit: (d: typeof good) => void): string => { const d = structuredClone(good); edit(d); return JSON.stringify(d); };
    const files = {
      truncated: JSON.stringify(good).slice(0, 40),
      'not a cache': '[1, 2, 3]',
      'a malformed candidate': broken((d) => { d.entries[key].candidate = { kernel: 'gemm' }; }),
      'a problem under another key': broken((d) => { d.entries[key].problem.xShape = [2, 4, 4, 3, 6]; }),
    };
    for (const [what, text] of Object.entries(files)) {
      writeFileSync(cache.file, text);
      const warnings: string[] = [];
      expect(readConv3dChoices(cache, gpu.rt, (l) => warnings.push(l)), what).toEqual([]);
      expect(warnings.length, what).toBe(1);
      expect(warnings[0], what).toMatch(/^conv3d choice cache .*conv3d-[0-9a-f]{16}\.json is unreadable \(.+\); ignoring it$/);
      expect(warnings[0]).toContain(cache.file);
    }
    const warnings: string[] = [];
    const { rows, cached } = await tuneConv3dWithCache(gpu, [problems[2]], { cacheDir: dir, reps: 1, warn: (l) => warnings.push(l) });
    expect(cached).toEqual([]);
    expect(warnings.length).toBe(1);
    expect(readConv3dChoices(cache, gpu.rt, (l) => warnings.push(l))).toEqual([{ problem: problems[2], candidate: rows.find((r) => r.chosen)!.candidate }]);
    expect(warnings.length).toBe(1);
  });

  it('writes a temporary file and renames it over the old one: a failed write leaves the old file and no temporary', async () => {
    const gpu = await gpuBackend();
    const dir = freshDir();
    const cache = conv3dChoiceCache(gpu, dir);
    const [first, ...rest] = lastCandidates(gpu);
    writeConv3dChoices(cache, gpu.rt, [first], () => {});
    const old = readFileSync(cache.file, 'utf8');
    // the temporary's name taken (by a folder), so writing it fails: the old file is left as it was
    vi.spyOn(Date, 'now').mockReturnValue(12345);
    const tmp = `${cache.file}.${process.pid}.12345.tmp`;
    mkdirSync(join(tmp, 'x'), { recursive: true });
    const warnings: string[] = [];
    writeConv3dChoices(cache, gpu.rt, rest, (l) => warnings.push(l));
    expect(warnings).toEqual([expect.stringMatching(/^conv3d choice cache .*conv3d-[0-9a-f]{16}\.json: could not write it \(.+\)$/)]);
    expect(readFileSync(cache.file, 'utf8')).toBe(old);
    rmSync(tmp, { recursive: true });
    // the rename fails (the file's name is a non-empty folder): the written temporary is removed
    rmSync(cache.file);
    mkdirSync(join(cache.file, 'x'), { recursive: true });
    writeConv3dChoices(cache, gpu.rt, rest, (l) => warnings.push(l));
    expect(warnings.length).toBe(2);
    expect(readdirSync(dir)).toEqual([basename(cache.file)]);
    rmSync(cache.file, { recursive: true });
    // a write that succeeds leaves only the file
    writeConv3dChoices(cache, gpu.rt, [first, ...rest], (l) => warnings.push(l));
    expect(warnings.length).toBe(2);
    expect(readdirSync(dir)).toEqual([basename(cache.file)]);
    expect(readConv3dChoices(cache, gpu.rt, (l) => warnings.push(l))).toEqual([first, ...rest]);
  });
});
