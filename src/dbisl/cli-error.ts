import { CliError } from './config.js';

/**
 * How the command-line tools end on an error: a usage error (CliError) prints one line and gives exit code 2,
 * any other error one line and 1; with --debug the stack follows.
 */
export function reportError(program: string, e: unknown, debug: boolean): 1 | 2 {
  const error = e instanceof Error ? e : new Error(String(e));
  // one line: messages that list several problems or quote a cause keep their parts, separated by '; '
  const line = error.message.split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
  console.error(`${program}: ${line}`);
  if (debug && error.stack) console.error(error.stack);
  return error instanceof CliError ? 2 : 1;
}
