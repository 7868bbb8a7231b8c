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
 * group: the worker treats a repeat within WORKER_REPEAT_MS as the same signal), and when the tsx or npm process
 * that launched it goes away (npm exits once its sh died of the signal), it sends the worker SIGTERM. It exits
 * with the worker's exit code.
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

/** A process's command line (Linux /proc; npm shows its title there, e.g. 'npm exec tsx …'), or ''. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * The processes whose end means nobody is left to pass a signal on: tsx's CLI when it is our parent, and the
 * npm / npx process that launched it. A shell is not among them, so `nohup … &` keeps a run going.
 */
function launchers(): number[] {
  const found: number[] = [];
  let pid: number | null = process.ppid;
  for (let depth = 0; depth < 4 && pid !== null && pid > 1; depth++) {
    const command = commandOf(pid);
    if (depth === 0 && /\btsx\b/.test(command)) found.push(pid);
    if (/^npm (exec|x)\b|npx-cli\.js|^npx\b/.test(command)) {
      found.push(pid);
      break;
    }
    pid = parentOf(pid);
  }
  return found;
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
  const watched = launchers();
  const watch = setInterval(() => {
    if (!passedOn && watched.some((p) => !isAlive(p))) passOn('SIGTERM');
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
