/**
 * The README's per-layer table: conv3d forward / input gradient / weight gradient of every V-Net layer from
 * bench/kernels.ts JSON, beside cuDNN's times from shared/anchors/torch_vnet_layers.py's output, both from
 * the same device call.
 *
 *   npx tsx bench/layer-table.ts <kernels.json> <log with torch_vnet_layers.py's table>
 */
import { readFileSync } from 'node:fs';
import { parseBenchArgs } from './args.js';

const args = parseBenchArgs({
  about: "The README's per-layer table: conv3d times of every V-Net layer from bench/kernels.ts JSON beside cuDNN's from torch_vnet_layers.py's output.",
  options: {},
  positionals: ['kernels.json', 'torch log'],
});
const [kernelsFile, torchLog] = args.positionals as [string, string];
const ours = JSON.parse(readFileSync(kernelsFile, 'utf8')) as { peakGflops: number; rows: { group: string; name: string; ms: number; gflops: number }[] };
const torch = new Map<string, number[]>();
for (const line of readFileSync(torchLog, 'utf8').split('\n')) {
  const m = /^(\S+(?: \S+)*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$/.exec(line.trim());
  if (m) torch.set(m[1], [Number(m[2]), Number(m[3]), Number(m[4])]);
}
// our case names and the anchor's share the layer name and, for the two enc1 layers, the channels
const anchorName = (layer: string): string | undefined => [...torch.keys()].find((k) => {
  const t = k.replace('->', '→').split(' '), o = layer.split(' ');
  return t[0] === o[0] && (t[0] !== 'enc1' || t[2] === o[2]);
});
console.log('| layer | ours fwd / dX / dW ms | cuDNN fwd / dX / dW ms | speed vs cuDNN (fwd, dX, dW) | ours fwd TFLOP/s |');
console.log('|---|---|---|---|---|');
const layers = new Map<string, Record<string, { ms: number; gflops: number }>>();
for (const r of ours.rows.filter((r) => r.group === 'conv3d' && r.name.endsWith('b4'))) {
  const kind = / fwd /.test(r.name) ? 'fwd' : / dX /.test(r.name) ? 'dX' : 'dW';
  const layer = r.name.replace(/ (fwd|dX|dW)( \([^)]*\))? /, ' ');
  const entry = layers.get(layer) ?? {};
  entry[kind] = r;
  layers.set(layer, entry);
}
for (const [layer, k] of layers) {
  const t = torch.get(anchorName(layer) ?? '');
  const o = [k.fwd?.ms ?? NaN, k.dX?.ms ?? NaN, k.dW?.ms ?? NaN];
  const ratio = t ? o.map((v, i) => `${(t[i] / v).toFixed(2)}×`).join(', ') : '—';
  console.log(`| ${layer} | ${o.map((v) => v.toFixed(3)).join(' / ')} | ${t ? t.map((v) => v.toFixed(3)).join(' / ') : '—'} | ${ratio} | ${((k.fwd?.gflops ?? NaN) / 1000).toFixed(1)} |`);
}
