/** What the CLIs read of other processes from Linux's /proc (null or '' where it cannot be read, e.g. not Linux). */
import { readFileSync } from 'node:fs';

/**
 * A numeric field of `/proc/<pid>/stat`, counted from the state (0: state, 1: ppid, 19: starttime). The command name
 * before it may hold spaces and parentheses, so the fields are read after the last ')'.
 */
function statField(pid: number, index: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const v = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** The parent pid of a process. */
export function parentOf(pid: number): number | null {
  return statField(pid, 1);
}

/** A process's start time in clock ticks since boot: tells a reused pid from the process that held it. */
export function processStartOf(pid: number): number | null {
  return statField(pid, 19);
}

/** A process's command line (npm shows its title there, e.g. 'npm exec tsx …'). */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}
