import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import * as root from 'voxgrad';
import * as imaging from 'voxgrad/imaging';
import * as dbisl from 'voxgrad/dbisl';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** Every name a user can call: the package's exports and the methods of its exported classes (Tensor, Module, …). */
function callableNames(): Set<string> {
  const names = new Set<string>();
  for (const ns of [root, imaging, dbisl] as Record<string, unknown>[]) {
    for (const [name, value] of Object.entries(ns)) {
      names.add(name);
      if (typeof value !== 'function' || !value.prototype) continue;
      for (let p = value.prototype as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
        for (const m of Object.getOwnPropertyNames(p)) names.add(m);
      }
    }
  }
  return names;
}

/** The text of the string and template literals of each `…Error(…)` call (interpolations removed), with file:line. */
function errorMessages(): { where: string; text: string }[] {
  const out: { where: string; text: string }[] = [];
  const files = readdirSync(SRC, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts'));
  for (const f of files) {
    const lines = readFileSync(join(f.parentPath, f.name), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!/\bError\(/.test(line)) return;
      const call = lines.slice(i, i + 4).join('\n').split(/\);\s*$/m)[0];
      const withoutInterpolations = call.replace(/\$\{(?:[^{}]|\{[^{}]*\})*\}/g, '');
      for (const m of withoutInterpolations.matchAll(/`[^`]*`|'[^'\n]*'/g)) out.push({ where: `${f.name}:${i + 1}`, text: m[0] });
    });
  }
  return out;
}

it('every function an error message tells the user to call exists', () => {
  const names = callableNames();
  const messages = errorMessages();
  expect(messages.length).toBeGreaterThan(100);
  const mentioned: string[] = [];
  const missing: string[] = [];
  for (const { where, text } of messages) {
    // name() or name(false) / name({ … }): a call the message suggests
    for (const m of text.matchAll(/\b([A-Za-z_$][\w$]*)\((?:|true|false|\{[^()]*\})\)/g)) {
      mentioned.push(m[1]);
      if (!names.has(m[1])) missing.push(`${where}: ${m[1]}() in ${text}`);
    }
  }
  expect(mentioned).toEqual(expect.arrayContaining(['cast', 'toBackend', 'setGradEnabled', 'backward']));
  expect(missing).toEqual([]);
});
