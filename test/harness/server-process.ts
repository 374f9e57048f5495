import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { processesUnder, trackProcess, untrackProcess } from './registry.js';
import { eventually } from './wait.js';

/** A uid/gid pair to run a process as (PostgreSQL's unprivileged user when the tests run as root). */
export interface RunAs {
  uid: number;
  gid: number;
}

/** How to spawn one server process. */
export interface ServerProcessOptions {
  /** Human-readable name for messages, e.g. "PostgreSQL 17", "nats-server n2". */
  label: string;
  /** Absolute path of the server binary. */
  command: string;
  /** Arguments, computed at each spawn (the port may change when a first start retries). */
  args: () => readonly string[];
  /** Working directory of the server. */
  cwd: string;
  /** The server's temp dir: a process working inside it belongs to the server and dies with it. */
  scopeDir: string;
  /** File receiving the server's stdout and stderr (appended across restarts). */
  logFile: string;
  /** Run as this user instead of the current one. */
  runAs?: RunAs;
  /** Environment; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

// setpriv (util-linux) switches user and sets a parent-death signal, so a server dies with the test
// worker even when the worker is SIGKILLed and no exit handler runs. PostgreSQL backends then notice
// their postmaster's death and exit by themselves.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function wrap(
  command: string,
  args: readonly string[],
  runAs?: RunAs,
): { command: string; args: string[]; ids: Partial<RunAs> } {
  if (SETPRIV === undefined) return { command, args: [...args], ids: runAs ?? {} };
  const pre = runAs ? [`--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups'] : [];
  return { command: SETPRIV, args: [...pre, '--pdeathsig=KILL', '--', command, ...args], ids: {} };
}

/** Throws a `BINARY_NOT_FOUND` {@link HarnessError} with `hint` unless `path` is an executable file. */
export function assertExecutable(path: string, what: string, hint: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new HarnessError(HarnessErrorCode.BinaryNotFound, `${what} not found at ${path}: ${hint}`);
  }
}

/** Runs a short command (initdb) to completion; throws with its output when it fails. */
export async function runCommand(
  command: string,
  args: readonly string[],
  opts: { cwd: string; runAs?: RunAs; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<string> {
  const w = wrap(command, args, opts.runAs);
  const child = spawn(w.command, w.args, {
    ...w.ids,
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: 'SIGKILL',
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  if (code !== 0) {
    throw new HarnessError(
      HarnessErrorCode.StartFailed,
      `${command} ${args.join(' ')} failed (${code ?? signal}):\n${output.trim()}`,
    );
  }
  return output;
}

/**
 * One server process (postmaster, nats-server) that can be spawned, stopped, killed and spawned
 * again; output goes to a log file whose tail ends every startup error.
 */
export class ServerProcess {
  readonly #opts: ServerProcessOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #logStart = 0;

  constructor(opts: ServerProcessOptions) {
    this.#opts = opts;
  }

  /** Pid while the process runs, else undefined. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  /** Whether the process was spawned and has not exited. */
  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /**
   * Spawns the process. The returned signal aborts (with a `START_FAILED` error carrying the log
   * tail) when the process exits, so startup polling stops at once.
   */
  spawn(): AbortSignal {
    if (this.running) throw new Error(`${this.#opts.label} is already running`);
    const { label, cwd, logFile, runAs, scopeDir } = this.#opts;
    const w = wrap(this.#opts.command, this.#opts.args(), runAs);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      this.#logStart = fstatSync(fd).size;
      child = spawn(w.command, w.args, {
        ...w.ids,
        cwd,
        env: this.#opts.env ?? process.env,
        stdio: ['ignore', fd, fd],
        // Its own process group: a terminal's Ctrl-C reaches only the program that started the
        // server (`sluice demo`, the test runner), which stops it in order, after whatever uses
        // it. The parent-death signal (wrap) still ends it with that program.
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    this.#child = child;
    const ac = new AbortController();
    this.#exited = new Promise<void>((resolve) => {
      const done = (how: string): void => {
        if (child.pid !== undefined) untrackProcess(child.pid);
        ac.abort(
          new HarnessError(
            HarnessErrorCode.StartFailed,
            `${label} exited (${how}) while starting; server log:\n${this.logTail()}`,
          ),
        );
        resolve();
      };
      child.once('exit', (code, sig) => done(sig ?? `code ${code}`));
      child.once('error', (err) => done(err.message));
    });
    if (child.pid !== undefined) trackProcess({ pid: child.pid, label, scopeDir });
    return ac.signal;
  }

  /**
   * Sends `signal` and waits up to `timeoutMs` for the exit; if the process is still there it is
   * killed and a `STOP_FAILED` error is thrown. No-op when not running.
   */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill(signal);
    const exited = await Promise.race([
      this.#exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(resolve, timeoutMs, false).unref()),
    ]);
    if (exited) return;
    await this.kill();
    throw new HarnessError(
      HarnessErrorCode.StopFailed,
      `${this.#opts.label} did not exit within ${timeoutMs} ms of ${signal} and was killed; server log:\n${this.logTail()}`,
    );
  }

  /**
   * SIGKILLs the process and every process working inside its temp dir (PostgreSQL backends are
   * their own session leaders, so a process-group kill would miss them), and waits until all are gone.
   */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child && this.running) child.kill('SIGKILL');
    const { scopeDir, label } = this.#opts;
    await eventually(
      async () => {
        // Re-scan each round: a backend forked just before the kill is found on the next pass.
        const left = processesUnder(scopeDir);
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        return left.length === 0 && !this.running;
      },
      { timeout: 15_000, interval: 10, message: `${label} and its child processes to die after SIGKILL` },
    );
    await this.#exited;
  }

  /** The first 3 and the last `lines` lines the process wrote to its log since it was last spawned. */
  logTail(lines = 40): string {
    let text: string;
    try {
      const fd = openSync(this.#opts.logFile, 'r');
      try {
        const size = fstatSync(fd).size;
        const start = Math.max(this.#logStart, size - 64 * 1024);
        const buf = Buffer.alloc(size - start);
        readSync(fd, buf, 0, buf.length, start);
        text = buf.toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return '(no server log)';
    }
    const all = text.trimEnd().split('\n');
    if (text.trim() === '') return '(server log is empty)';
    // Keep the first lines too: a usage error prints its reason first and a long usage text after it.
    if (all.length <= lines + 3) return all.join('\n');
    return [...all.slice(0, 3), `[... ${all.length - lines - 3} lines ...]`, ...all.slice(-lines)].join('\n');
  }
}
