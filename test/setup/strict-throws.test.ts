import { describe, expect, it } from 'vitest';

/**
 * The suite's setup file (test/setup/strict-throws.ts, in vitest.config.ts and vitest.mutate.config.ts): a test that
 * expects an error message fails when the code throws a falsy value instead of an Error. Without it, each "fails"
 * case below passed (chai skips the message check of a falsy thrown value).
 */
const expectAssertionToFail = (assertion: () => void): void => {
  let failed = false;
  try {
    assertion();
  } catch (error) {
    failed = error instanceof Error;
  }
  expect(failed, 'the inner assertion should have failed').toBe(true);
};

describe('toThrow with a matcher needs an Error (setup file)', () => {
  it('fails on a thrown undefined, with a string or a RegExp, for toThrow and toThrowError', () => {
    expectAssertionToFail(() => expect(() => { throw undefined; }).toThrow('shape'));
    expectAssertionToFail(() => expect(() => { throw undefined; }).toThrow(/shape/));
    expectAssertionToFail(() => expect(() => { throw undefined; }).toThrowError('shape'));
  });

  it('fails on the other falsy values', () => {
    for (const value of [null, 0, '', false]) {
      expectAssertionToFail(() => expect(() => { throw value; }).toThrow(/shape/));
    }
  });

  it('fails on a promise rejected with undefined', async () => {
    let failed = false;
    try {
      await expect(Promise.reject(undefined)).rejects.toThrow('shape');
    } catch (error) {
      failed = error instanceof Error;
    }
    expect(failed).toBe(true);
  });

  it('keeps the meaning of real errors, classes, toThrow() without a matcher, .not and `this`', async () => {
    expect(() => { throw new RangeError('bad shape [2, 3]'); }).toThrow('shape [2, 3]');
    expect(() => { throw new RangeError('bad shape'); }).toThrow(/bad sh/);
    expect(() => { throw new RangeError('bad shape'); }).toThrow(RangeError);
    expect(() => { throw undefined; }).toThrow();
    expect(() => 1).not.toThrow('shape');
    expect(() => { throw new Error('other'); }).not.toThrow('shape');
    await expect(Promise.reject(new Error('bad shape'))).rejects.toThrow('shape');
    const holder = { size: 3, check(this: { size: number }): never { throw new Error(`size ${this.size}`); } };
    expect(() => holder.check()).toThrow('size 3');
  });
});
