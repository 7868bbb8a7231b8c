/**
 * `npx tsx bench/la-pack.ts --data ../shared/data/LA --out .stage/la-pack` — writes the LA pack (the lossless
 * compact copy of `src/imaging/io/la-pack.ts`) of an LA data root, checking every case back against its HDF5
 * file bit for bit, and prints the sizes. `bench/la-run.sh prepare` calls it.
 */
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LA_CASE_DIR, LA_CASE_FILE, LASource, readLAFile } from '../src/imaging/io/la.js';
import { decodeLAPackCase, encodeLAPackCase, LA_PACK_CASE_DIR, laPackCasePath } from '../src/imaging/io/la-pack.js';
import { Progress } from '../src/imaging/progress.js';
import { parseBenchArgs, type BenchCommand } from './args.js';

const COMMAND: BenchCommand = {
  about: `Writes the LA pack of an LA data root (train.list, test.list, "${LA_CASE_DIR}/<ID>/${LA_CASE_FILE}"): each case as
a table of its distinct float32 values plus delta-coded indices and the label, with SHA-256 checksums; every case
is decoded again and compared with its HDF5 file bit for bit.`,
  options: {
    data: { type: 'string', arg: 'DIR', help: 'the LA root (required)' },
    out: { type: 'string', arg: 'DIR', help: 'the pack root to write (required; its lists and case files are overwritten)' },
    train: { type: 'string', arg: 'N', help: 'only the first N ids of train.list (default: all), for small end-to-end checks' },
    test: { type: 'string', arg: 'N', help: 'only the first N ids of test.list (default: all)' },
  },
};

async function main(): Promise<void> {
  const a = parseBenchArgs(COMMAND, process.argv.slice(2), 'la-pack.ts');
  const values = { data: a.string('data') ?? a.fail('--data DIR is required'), out: a.string('out') ?? a.fail('--out DIR is required') };
  const nTrain = a.string('train') === undefined ? null : a.int('train');
  const nTest = a.string('test') === undefined ? null : a.int('test');
  const source = new LASource(values.data, { cacheSize: 0 });
  const train = source.trainIds().slice(0, nTrain ?? undefined);
  const test = source.testIds().slice(0, nTest ?? undefined);
  const out = path.resolve(values.out);
  mkdirSync(path.join(out, LA_PACK_CASE_DIR), { recursive: true });
  const writeList = (name: string, ids: string[]) => writeFileSync(path.join(out, name), ids.join('\n') + '\n');
  if (nTrain === null) copyFileSync(path.join(source.root, 'train.list'), path.join(out, 'train.list'));
  else writeList('train.list', train);
  if (nTest === null) copyFileSync(path.join(source.root, 'test.list'), path.join(out, 'test.list'));
  else writeList('test.list', test);

  const ids = [...train, ...test];
  const bar = new Progress('pack', ids.length);
  let hdf5Bytes = 0, packBytes = 0;
  for (const [i, id] of ids.entries()) {
    const h5 = source.casePath(id);
    const { image, label } = await readLAFile(h5);
    const bytes = encodeLAPackCase(image, label);
    const file = laPackCasePath(out, id);
    const back = decodeLAPackCase(bytes, file);
    if (!Buffer.from(back.image.data.buffer).equals(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength))
      || !Buffer.from(back.label.data).equals(Buffer.from(label.data))) {
      throw new Error(`la-pack: ${id} does not decode to its HDF5 arrays`);
    }
    writeFileSync(file, bytes);
    hdf5Bytes += statSync(h5).size;
    packBytes += bytes.length;
    bar.update(i + 1, id);
  }
  bar.done();
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`la-pack: ${ids.length} cases (${train.length} train, ${test.length} test) → ${out}: ${mib(packBytes)} MiB uncompressed (HDF5: ${mib(hdf5Bytes)} MiB); every case checked bit for bit`);
}

main().catch((e: unknown) => {
  console.error(`la-pack: ${(e as Error).message}`);
  process.exit(1);
});
