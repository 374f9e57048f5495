import {
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HarnessError, HarnessErrorCode, describeError } from './errors.js';

// Every server process and temp dir the harness creates is registered here, so that nothing
// outlives the test worker: `closeAll()` closes servers gracefully (call it in `afterAll`), and the
// process 'exit' handler and SIGTERM/SIGINT/SIGHUP handlers (vitest stops its fork workers with
// SIGTERM) SIGKILL whatever is left and remove the temp dirs synchronously. Server processes are
// also spawned with a parent-death signal (see server-process.ts), which covers a SIGKILLed worker;
// the temp dirs such a worker leaves behind are swept by the next harness run (see sweepStaleDirs).

/** A server process registered with the harness. */
export interface TrackedProcess {
  /** Process id of the server (the postmaster, the nats-server). */
  pid: number;
  /** Human-readable name for messages, e.g. "PostgreSQL 17", "nats-server n2". */
  label: string;
  /** Processes whose working directory lies inside this dir belong to the server (PostgreSQL backends). */
  scopeDir: string;
}

/** Something `closeAll()` closes: a server, a cluster. `close()` must be idempotent. */
export interface Closeable {
  close(): Promise<void>;
}

/** What the harness created and is still there; see {@link listLeftovers}. */
export interface Leftovers {
  /** Live (non-zombie) processes: registered servers and any process working inside a registered dir. */
  pids: number[];
  /** Registered temp dirs that still exist. */
  dirs: string[];
}

interface RegistryState {
  processes: Map<number, TrackedProcess>;
  everProcesses: Map<number, TrackedProcess>;
  dirs: Set<string>;
  everDirs: Set<string>;
  closeables: Set<Closeable>;
  exitHandlerInstalled: boolean;
  signalHandlersInstalled: boolean;
  staleSwept: boolean;
}

// One registry per process even if a test runner loads this module more than once.
const KEY = Symbol.for('sluice.test.harness.registry');
const holder = globalThis as unknown as { [KEY]?: RegistryState };
const state: RegistryState = (holder[KEY] ??= {
  processes: new Map(),
  everProcesses: new Map(),
  dirs: new Set(),
  everDirs: new Set(),
  closeables: new Set(),
  exitHandlerInstalled: false,
  signalHandlersInstalled: false,
  staleSwept: false,
});

const OWNER_FILE = '.sluice-owner';
const TEMP_PREFIXES = ['sluice-pg-', 'sluice-nats-'];
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Registers a spawned server process. */
export function trackProcess(p: TrackedProcess): void {
  state.processes.set(p.pid, p);
  state.everProcesses.set(p.pid, p);
  installHandlers();
}

/** Unregisters a server process that has exited (it stays in the history `listLeftovers()` checks). */
export function untrackProcess(pid: number): void {
  state.processes.delete(pid);
}

/** Registers a server or cluster for {@link closeAll}. */
export function trackCloseable(c: Closeable): void {
  state.closeables.add(c);
  installHandlers();
}

/** Unregisters a closed server or cluster. */
export function untrackCloseable(c: Closeable): void {
  state.closeables.delete(c);
}

/**
 * Creates and registers a temp dir `<os.tmpdir()>/<prefix>XXXXXX` (mode 0700), owned by `owner`
 * when given (PostgreSQL's unprivileged user when running as root).
 */
export function makeTempDir(prefix: string, owner?: { uid: number; gid: number }): string {
  sweepStaleDirs();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  state.dirs.add(dir);
  state.everDirs.add(dir);
  installHandlers();
  const marker = { pid: process.pid, host: hostname(), started: processStartTime(process.pid) };
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(marker));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** Removes a registered temp dir (recursively; missing is fine) and unregisters it. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  state.dirs.delete(dir);
}

/**
 * Closes every registered server and cluster (gracefully, in parallel), then SIGKILLs any process
 * and removes any temp dir still registered. Throws a `CLEANUP_FAILED` {@link HarnessError} after
 * cleaning if a close failed. Safe to call more than once.
 */
export async function closeAll(): Promise<void> {
  const closeables = [...state.closeables];
  const results = await Promise.allSettled(closeables.map((c) => c.close()));
  for (const c of closeables) state.closeables.delete(c);
  cleanupSync();
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    throw new HarnessError(
      HarnessErrorCode.CleanupFailed,
      `closeAll(): ${failures.length} server(s) did not close cleanly (they were killed): ${failures
        .map(describeError)
        .join('; ')}`,
      { cause: new AggregateError(failures) },
    );
  }
}

/**
 * Processes and temp dirs the harness created in this process that still exist: registered
 * server pids still alive, processes working inside a registered dir (orphaned PostgreSQL
 * backends), and registered dirs still on disk. Empty after `closeAll()`.
 */
export function listLeftovers(): Leftovers {
  const pids = new Set<number>();
  for (const pid of state.everProcesses.keys()) if (isAlive(pid)) pids.add(pid);
  const scanned = scanProcessCwds();
  for (const dir of state.everDirs) for (const pid of processesIn(dir, scanned)) pids.add(pid);
  const dirs = [...state.everDirs].filter((d) => existsSync(d));
  return { pids: [...pids].sort((a, b) => a - b), dirs };
}

/** Whether `pid` is a live process; zombies (exited, not yet reaped) count as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = procState(pid);
  return st !== 'Z' && st !== 'X';
}

/** Live processes whose working directory is `dir` or lies inside it (Linux /proc). */
export function processesUnder(dir: string): number[] {
  return processesIn(dir, scanProcessCwds());
}

function processesIn(dir: string, scanned: Map<number, string>): number[] {
  const out: number[] = [];
  for (const [pid, cwd] of scanned) if (cwd === dir || cwd.startsWith(`${dir}/`)) out.push(pid);
  return out;
}

function scanProcessCwds(): Map<number, string> {
  const out = new Map<number, string>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      // A zombie has no cwd (readlink fails), so only live processes are listed.
      out.set(pid, readlinkSync(`/proc/${name}/cwd`).replace(/ \(deleted\)$/, ''));
    } catch {
      // gone, or not ours to inspect
    }
  }
  return out;
}

function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ppid ..." — comm may contain spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function procState(pid: number): string | undefined {
  return procStatFields(pid)?.[0];
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function processStartTime(pid: number): string | undefined {
  return procStatFields(pid)?.[19];
}

/** SIGKILLs every registered process and everything working inside a registered dir, removes the dirs. */
function cleanupSync(): void {
  for (const p of state.processes.values()) killQuietly(p.pid);
  const scanned = scanProcessCwds();
  const scopes = new Set<string>([...state.dirs, ...[...state.processes.values()].map((p) => p.scopeDir)]);
  for (const dir of scopes) for (const pid of processesIn(dir, scanned)) killQuietly(pid);
  state.processes.clear();
  for (const dir of [...state.dirs]) {
    try {
      removeTempDir(dir);
    } catch {
      // best effort at exit
    }
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * For a program that handles SIGTERM/SIGINT/SIGHUP itself and then calls {@link closeAll}
 * (`sluice demo`): the harness installs no signal handlers of its own, which would kill the servers
 * at once and re-raise the signal before the program's orderly stop. The exit handler and the
 * servers' parent-death signal still apply.
 */
export function leaveSignalsToHost(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  state.signalHandlersInstalled = true;
}

function installHandlers(): void {
  if (!state.exitHandlerInstalled) {
    state.exitHandlerInstalled = true;
    process.on('exit', cleanupSync);
  }
  if (!state.signalHandlersInstalled) {
    state.signalHandlersInstalled = true;
    for (const sig of SIGNALS) process.once(sig, onSignal);
  }
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupSync();
  for (const s of SIGNALS) process.off(s, onSignal);
  state.signalHandlersInstalled = false;
  // Keep the default meaning of the signal (terminate) unless someone else handles it.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

/**
 * Removes `sluice-pg-*`/`sluice-nats-*` temp dirs left by harness processes that died without
 * cleaning up (a SIGKILLed test worker). A dir is stale when its owner process (pid + start time,
 * same host) is gone and no process works inside it. Runs once per process.
 */
function sweepStaleDirs(): void {
  if (state.staleSwept) return;
  state.staleSwept = true;
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  const candidates = names.filter((n) => TEMP_PREFIXES.some((p) => n.startsWith(p)));
  if (candidates.length === 0) return;
  const scanned = scanProcessCwds();
  for (const name of candidates) {
    const dir = join(tmpdir(), name);
    try {
      const owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as {
        pid: number;
        host: string;
        started?: string;
      };
      if (owner.host !== hostname()) continue;
      const ownerAlive = isAlive(owner.pid) && processStartTime(owner.pid) === owner.started;
      if (ownerAlive || processesIn(dir, scanned).length > 0) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // no marker (not ours, or being created right now) or unreadable: leave it
    }
  }
}
