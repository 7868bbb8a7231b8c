/**
 * Signal-safe command-line runs. `npx tsx script.ts` starts a chain npm → sh → tsx → node; tsx relays SIGINT and
 * SIGTERM to its node child and, unless that child's event loop acknowledges within about 30 ms, sends the
 * signal again and then SIGKILL (tsx's `relaySignals`). A trainer whose event loop is busy with an iteration
 * cannot answer in time and dies without its checkpoint. And SIGTERM to the npx process reaches only sh, which
 * dies without passing it on, leaving tsx and the trainer running.
 *
 * So the script's process only supervises: it re-runs itself as a worker child (same node options, so the same
 * TypeScript loader) whose event loop may stay busy, while its own stays idle and answers tsx at once. It passes
 * each SIGINT / SIGTERM on to the worker (which also gets a terminal's Ctrl-C itself, being in the same process
 * group: the worker treats a repeat within WORKER_REPEAT_MS as the same signal), and when the process that
 * launched it goes away (npx's sh killed), it sends the worker SIGTERM. It exits with the worker's exit code.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

/** set in the worker's environment */
export const WORKER_ENV = 'VOXGRAD_CLI_WORKER';
/** a second SIGINT / SIGTERM sooner than this after the first is the same signal, relayed */
export const WORKER_REPEAT_MS = 1000;
const ANCESTOR_POLL_MS = 250;

/** true in the worker process a supervisor started */
export function isWorker(): boolean {
  return process.env[WORKER_ENV] === '1';
}

/** The parent pid of a process (Linux /proc), or null where that cannot be read. */
function parentOf(pid: number): number | null {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `script` with `args` in a worker child and resolves with its exit code (128 + the signal's number when a
 * signal ended it). See the module comment for the signals.
 */
export function superviseScript(script: string, args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: 'inherit', env: { ...process.env, [WORKER_ENV]: '1' },
  });
  let passedOn = false;
  const passOn = (signal: NodeJS.Signals) => {
    passedOn = true;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on('SIGINT', passOn);
  process.on('SIGTERM', passOn);
  // our parent and its parent (tsx and sh under npx): when one goes, nobody is left to pass a signal on
  const ancestors = [process.ppid, parentOf(process.ppid)].filter((p): p is number => p !== null && p > 1);
  const watch = setInterval(() => {
    if (passedOn) return;
    if (ancestors.some((p) => !isAlive(p)) || process.ppid !== ancestors[0]) passOn('SIGTERM');
  }, ANCESTOR_POLL_MS);
  return new Promise((resolve) => {
    const done = (code: number) => {
      clearInterval(watch);
      process.off('SIGINT', passOn);
      process.off('SIGTERM', passOn);
      resolve(code);
    };
    child.on('error', (e) => {
      process.stderr.write(`cannot start the worker process (${process.execPath}): ${e.message}\n`);
      done(1);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
