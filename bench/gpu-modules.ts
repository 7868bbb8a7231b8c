/**
 * The node_modules folders that the GPU machine's runs need, one path per line: the packages reachable through
 * `dependencies`, `optionalDependencies` and installed `peerDependencies` from the project's runtime dependencies
 * and the dev tools run there (tsx, vitest, fast-check), resolved as Node resolves them (nested node_modules
 * first). `bench/la-run.sh prepare` re-packs `.gpu/node_modules.tar.xz` with only these, so that the browser
 * test's and the mutation tester's packages (puppeteer, Stryker: about 14 MiB of xz) leave room for LA data in
 * the carried tree. Left out as well, since nothing runs them there: packages of type declarations only (`@types/*`,
 * `undici-types`, `@webgpu/types`: tsx strips types without reading them) and the CSS_ONLY_PACKAGES (about 3.5 MiB
 * of xz together with the browser builds of h5wasm that la-run.sh excludes).
 *
 *   npx tsx bench/gpu-modules.ts [--root .]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseBenchArgs } from './args.js';

/** the dev tools that run on the GPU machine besides the runtime dependencies */
export const GPU_DEV_TOOLS = ['tsx', 'vitest', 'fast-check'] as const;

/**
 * Packages that vite reaches but imports only to process CSS (lightningcss is vite 8's CSS transformer, loaded on
 * first use, with a 10 MB native binary), which no test or run of this project has.
 */
export const CSS_ONLY_PACKAGES = ['lightningcss'] as const;

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

const DECLARATIONS = /\.d\.[cm]?ts$/;

/** A file beside the declarations that carries no code either: documentation, the licence, the manifest. */
function documentation(file: string): boolean {
  return /\.md$/i.test(file) || /^licen[cs]e/i.test(file) || file === 'package.json';
}

/** Whether a package folder holds type declarations and no code (its nested node_modules aside). */
function declarationsOnly(dir: string): boolean {
  let declarations = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    if (relative(dir, entry.parentPath).split('/').includes('node_modules')) continue;
    if (DECLARATIONS.test(entry.name)) declarations++;
    else if (!documentation(entry.name)) return false;
  }
  return declarations > 0;
}

/** The folder of `name` as required from a package in `fromDir` (nested node_modules first, then each parent's). */
function resolvePackage(name: string, fromDir: string, root: string): string | null {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return null;
  }
}

/**
 * Every package folder (relative to root, e.g. `node_modules/vitest`) that the project's runtime dependencies and
 * GPU_DEV_TOOLS need. A required dependency that is not installed throws; a missing optional or peer one is skipped
 * (npm installs only the optional binaries of this platform), and so are packages of declarations only and the
 * CSS_ONLY_PACKAGES with what only they reach.
 */
export function gpuModules(root: string): string[] {
  const project = readPackage(root);
  for (const tool of GPU_DEV_TOOLS) {
    if (!project.devDependencies?.[tool] && !project.dependencies?.[tool]) throw new Error(`package.json does not list ${tool}`);
  }
  const needed = new Set<string>(), skipped = new Set<string>();
  const visit = (name: string, fromDir: string, required: boolean): void => {
    const dir = resolvePackage(name, fromDir, root);
    if (!dir) {
      if (required) throw new Error(`${name} (required from ${relative(root, fromDir) || 'the project'}) is not installed: run npm ci`);
      return;
    }
    if (needed.has(dir) || skipped.has(dir)) return;
    if ((CSS_ONLY_PACKAGES as readonly string[]).includes(name) || declarationsOnly(dir)) {
      skipped.add(dir);
      return;
    }
    needed.add(dir);
    const p = readPackage(dir);
    for (const dep of Object.keys(p.dependencies ?? {})) visit(dep, dir, !(dep in (p.optionalDependencies ?? {})));
    for (const dep of Object.keys({ ...p.optionalDependencies, ...p.peerDependencies })) visit(dep, dir, false);
  };
  for (const dep of [...Object.keys(project.dependencies ?? {}), ...GPU_DEV_TOOLS]) visit(dep, root, true);
  return [...needed].map((d) => relative(root, d)).sort();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseBenchArgs({
    about: 'The node_modules folders the GPU machine\'s runs need, one per line.',
    options: { root: { type: 'string', default: '.', arg: 'DIR', help: 'the project root (holds package.json and node_modules)' } },
  }, process.argv.slice(2), 'gpu-modules.ts');
  try {
    console.log(gpuModules(args.string('root')!).join('\n'));
  } catch (e) {
    console.error(`gpu-modules.ts: ${(e as Error).message}`);
    process.exit(1);
  }
}
