import { describe, expect, it } from 'vitest';
import { Progress, formatDuration, formatRate, type ProgressStream } from '../../src/imaging/progress.js';

class Sink implements ProgressStream {
  out = '';
  constructor(public isTTY: boolean, public columns?: number) {}
  write(s: string): boolean { this.out += s; return true; }
}

describe('progress', () => {
  it('log mode: a line every N items, plus a final line', () => {
    let t = 0;
    const sink = new Sink(false);
    const p = new Progress('train', 100, { stream: sink, logEvery: 25, now: () => t });
    for (let i = 0; i < 90; i++) { t += 100; p.tick(1, `loss ${(1 / (i + 1)).toFixed(3)}`); }
    p.done();
    const lines = sink.out.trimEnd().split('\n');
    expect(lines.length).toBe(4); // 25, 50, 75, final at 90
    expect(lines[0]).toBe('train  25/100 (25%) 10.00 it/s elapsed 0:03 eta 0:08 loss 0.040');
    expect(lines[3]).toMatch(/^train {2}90\/100 \(90%\)/);
    p.tick(); // ignored after done()
    expect(sink.out.trimEnd().split('\n').length).toBe(4);
  });

  it('log mode: a line after logIntervalMs even between N items', () => {
    let t = 0;
    const sink = new Sink(false);
    const p = new Progress('cases', 20, { stream: sink, logEvery: 100, logIntervalMs: 1000, now: () => t });
    t = 400; p.tick();
    t = 1200; p.tick();
    t = 1500; p.tick();
    expect(sink.out.split('\n').filter(Boolean).length).toBe(1);
    expect(sink.out).toContain(' 2/20 ');
  });

  it('tty mode: one redrawn line with a bar, throttled, newline at the end', () => {
    let t = 0;
    const sink = new Sink(true, 200);
    const p = new Progress('windows', 10, { stream: sink, redrawMs: 100, barWidth: 10, now: () => t });
    for (let i = 0; i < 10; i++) { t += 30; p.tick(); }
    p.done('ok');
    expect(sink.out.includes('\n')).toBe(true);
    expect(sink.out.indexOf('\n')).toBe(sink.out.length - 1);
    const frames = sink.out.split('\r').filter(Boolean);
    expect(frames.length).toBeLessThan(10); // throttled
    expect(frames[frames.length - 1]).toBe('windows [##########] 10/10 33.33 it/s elapsed 0:00 eta 0:00 ok\x1b[K\n');
  });

  it('formats', () => {
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(NaN)).toBe('?');
    expect(formatRate(0.5)).toBe('2.00 s/it');
    expect(formatRate(250)).toBe('250 it/s');
  });
});
