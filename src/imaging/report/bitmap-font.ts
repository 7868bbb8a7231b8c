/**
 * A 5×7 bitmap font (digits, A–Z, a little punctuation; lower case is drawn as upper case, anything else as
 * '?') for captions burnt into PNG figures, and the routine that draws a string into an RGB buffer.
 */

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** horizontal advance per character, in font pixels (glyph + 1 column of space) */
export const GLYPH_ADVANCE = 6;

// seven rows, top to bottom, five columns each ('1' = ink)
const GLYPHS: Record<string, string> = {
  '0': '01110 10001 10011 10101 11001 10001 01110',
  '1': '00100 01100 00100 00100 00100 00100 01110',
  '2': '01110 10001 00001 00010 00100 01000 11111',
  '3': '11111 00010 00100 00010 00001 10001 01110',
  '4': '00010 00110 01010 10010 11111 00010 00010',
  '5': '11111 10000 11110 00001 00001 10001 01110',
  '6': '00110 01000 10000 11110 10001 10001 01110',
  '7': '11111 00001 00010 00100 01000 01000 01000',
  '8': '01110 10001 10001 01110 10001 10001 01110',
  '9': '01110 10001 10001 01111 00001 00010 01100',
  A: '01110 10001 10001 11111 10001 10001 10001',
  B: '11110 10001 10001 11110 10001 10001 11110',
  C: '01110 10001 10000 10000 10000 10001 01110',
  D: '11100 10010 10001 10001 10001 10010 11100',
  E: '11111 10000 10000 11110 10000 10000 11111',
  F: '11111 10000 10000 11110 10000 10000 10000',
  G: '01110 10001 10000 10111 10001 10001 01111',
  H: '10001 10001 10001 11111 10001 10001 10001',
  I: '01110 00100 00100 00100 00100 00100 01110',
  J: '00111 00010 00010 00010 00010 10010 01100',
  K: '10001 10010 10100 11000 10100 10010 10001',
  L: '10000 10000 10000 10000 10000 10000 11111',
  M: '10001 11011 10101 10101 10001 10001 10001',
  N: '10001 10001 11001 10101 10011 10001 10001',
  O: '01110 10001 10001 10001 10001 10001 01110',
  P: '11110 10001 10001 11110 10000 10000 10000',
  Q: '01110 10001 10001 10001 10101 10010 01101',
  R: '11110 10001 10001 11110 10100 10010 10001',
  S: '01111 10000 10000 01110 00001 00001 11110',
  T: '11111 00100 00100 00100 00100 00100 00100',
  U: '10001 10001 10001 10001 10001 10001 01110',
  V: '10001 10001 10001 10001 10001 01010 00100',
  W: '10001 10001 10001 10101 10101 10101 01010',
  X: '10001 10001 01010 00100 01010 10001 10001',
  Y: '10001 10001 10001 01010 00100 00100 00100',
  Z: '11111 00001 00010 00100 01000 10000 11111',
  ' ': '00000 00000 00000 00000 00000 00000 00000',
  '.': '00000 00000 00000 00000 00000 01100 01100',
  ',': '00000 00000 00000 00000 01100 00100 01000',
  ':': '00000 01100 01100 00000 01100 01100 00000',
  '-': '00000 00000 00000 11111 00000 00000 00000',
  _: '00000 00000 00000 00000 00000 00000 11111',
  '=': '00000 00000 11111 00000 11111 00000 00000',
  '%': '11000 11001 00010 00100 01000 10011 00011',
  '/': '00000 00001 00010 00100 01000 10000 00000',
  '(': '00010 00100 01000 01000 01000 00100 00010',
  ')': '01000 00100 00010 00010 00010 00100 01000',
  '+': '00000 00100 00100 11111 00100 00100 00000',
  '#': '01010 01010 11111 01010 11111 01010 01010',
  '?': '01110 10001 00001 00010 00100 00000 00100',
};

/** The glyph of a character as 7 rows of 5 booleans (lower case → upper case; unknown → '?'). */
export function glyph(ch: string): boolean[][] {
  const bits = GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? GLYPHS['?']!;
  return bits.split(' ').map((row) => [...row].map((b) => b === '1'));
}

/** Width in pixels of `text` drawn at `scale` (no trailing space column). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale;
}

export type Rgb = readonly [number, number, number];

/** An RGB image, 3 bytes per pixel, rows top to bottom. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Fills a rectangle (clipped to the image). */
export function fillRect(img: RgbImage, x0: number, y0: number, w: number, h: number, color: Rgb): void {
  const xa = Math.max(0, x0), ya = Math.max(0, y0);
  const xb = Math.min(img.width, x0 + w), yb = Math.min(img.height, y0 + h);
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = color[0]; img.data[o + 1] = color[1]; img.data[o + 2] = color[2];
    }
  }
}

/** Draws `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` square (clipped). */
export function drawText(img: RgbImage, text: string, x: number, y: number, color: Rgb, scale = 1): void {
  [...text].forEach((ch, i) => {
    const g = glyph(ch);
    const gx = x + i * GLYPH_ADVANCE * scale;
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        if (g[r]![c]) fillRect(img, gx + c * scale, y + r * scale, scale, scale, color);
      }
    }
  });
}
