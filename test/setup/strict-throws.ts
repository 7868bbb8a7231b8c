import { chai } from 'vitest';

/**
 * Makes `toThrow(matcher)` / `toThrowError(matcher)` fail when the code throws a falsy value (`undefined`, `null`,
 * `0`, `''`, `false`). chai's `throws`, which vitest uses for a string or RegExp matcher, checks the message only of
 * a truthy thrown value, so `expect(() => { throw undefined; }).toThrow('shape')` passed: a test of an error
 * message did not see a mutant or a bug that threw nothing useful. The falsy value becomes a TypeError saying so,
 * which then fails the matcher. `toThrow()` without a matcher and `.not.toThrow(…)` keep their meaning.
 */
const describeFalsy = (value: unknown): string => (typeof value === 'string' ? `'${value}'` : String(value));

chai.use((api, utils) => {
  for (const name of ['toThrow', 'toThrowError']) {
    utils.overwriteMethod(api.Assertion.prototype, name, (original: (...args: unknown[]) => unknown) =>
      function strictThrow(this: Chai.AssertionStatic, ...args: unknown[]): unknown {
        if (args[0] !== undefined && !utils.flag(this, 'negate')) {
          const subject: unknown = utils.flag(this, 'object');
          if (utils.flag(this, 'promise') === 'rejects') {
            if (!subject) {
              utils.flag(this, 'object', new TypeError(`the promise rejected with ${describeFalsy(subject)}, not an Error`));
            }
          } else if (typeof subject === 'function') {
            utils.flag(this, 'object', function callStrictly(this: unknown, ...callArgs: unknown[]): unknown {
              try {
                return Reflect.apply(subject, this, callArgs);
              } catch (thrown) {
                if (!thrown) throw new TypeError(`the function threw ${describeFalsy(thrown)}, not an Error`);
                throw thrown;
              }
            });
          }
        }
        return original.apply(this, args);
      });
  }
});
