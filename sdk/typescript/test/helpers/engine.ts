// Starts the real statewell binary for tests: `serve` on a free loopback
// port with a temporary data directory, exactly as a user would run it.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

export function engineBinary(): string {
  const bin = process.env.STATEWELL_BIN ?? join(repoRoot, "target/debug/statewell");
  if (!existsSync(bin)) {
    throw new Error(`engine binary not found at ${bin}: run \`cargo build --bins\` or set STATEWELL_BIN`);
  }
  return bin;
}

export class Engine {
  private constructor(
    readonly child: ChildProcess,
    /** `127.0.0.1:PORT` */
    readonly addr: string,
    readonly dataDir: string,
    private readonly ownsDir: boolean,
    readonly extra: string[],
  ) {}

  get url(): string {
    return `ws://${this.addr}/`;
  }

  get port(): number {
    return Number(this.addr.split(":").pop());
  }

  /** A new engine on a fresh temporary data directory. */
  static async start(extra: string[] = []): Promise<Engine> {
    const dir = mkdtempSync(join(tmpdir(), "statewell-ts-"));
    return Engine.launch(join(dir, "data"), "127.0.0.1:0", extra, dir);
  }

  /** A new engine on a given port, e.g. one a client is already trying to reach. */
  static async startOn(port: number, extra: string[] = []): Promise<Engine> {
    const dir = mkdtempSync(join(tmpdir(), "statewell-ts-"));
    return Engine.launch(join(dir, "data"), `127.0.0.1:${port}`, extra, dir);
  }

  /** Starts again on the same data directory and port (for restart tests). */
  async restart(): Promise<Engine> {
    // The port was just freed by the stopped engine; retry briefly in case
    // the kernel has not released it yet.
    let lastError: unknown;
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        return await Engine.launch(this.dataDir, this.addr, this.extra, this.ownsDir ? dirname(this.dataDir) : null);
      } catch (error) {
        lastError = error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw lastError;
  }

  private static launch(data: string, listen: string, extra: string[], ownedDir: string | null): Promise<Engine> {
    const child = spawn(engineBinary(), ["serve", "--listen", listen, "--data", data, ...extra], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 20_000) stderr += chunk.toString();
    });
    return new Promise((resolvePromise, reject) => {
      const lines = createInterface({ input: child.stdout });
      let settled = false;
      lines.once("line", (line) => {
        settled = true;
        const match = /^listening on (\S+)$/.exec(line.trim());
        if (match === null) {
          child.kill("SIGKILL");
          reject(new Error(`unexpected first line from the engine: ${line}`));
          return;
        }
        // Keep draining stdout so the engine never blocks on a full pipe.
        lines.on("line", () => {});
        resolvePromise(new Engine(child, match[1]!, data, ownedDir !== null, extra));
      });
      child.once("exit", (code, signal) => {
        if (!settled) {
          settled = true;
          reject(new Error(`the engine exited (${code ?? signal}) before listening: ${stderr}`));
        }
      });
    });
  }

  /** Sends a signal; resolves when the process has exited. */
  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill(signal);
    await exited;
  }

  /**
   * Freezes the process: the socket stays open, nothing is answered.
   * Resolves once every thread is stopped, where /proc tells: SIGSTOP is
   * only acted on when a thread next enters the kernel, so a thread busy on
   * another core could still answer a request sent right after the signal.
   */
  async pause(): Promise<void> {
    this.child.kill("SIGSTOP");
    const tasks = `/proc/${this.child.pid}/task`;
    if (!existsSync(tasks)) return;
    for (let i = 0; i < 400; i++) {
      if (allStopped(tasks)) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`engine ${this.child.pid} did not stop within 2 s of SIGSTOP`);
  }

  resume(): void {
    this.child.kill("SIGCONT");
  }

  /** Stops the engine and removes its data directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.resume();
      await this.signal("SIGKILL");
    }
    if (this.ownsDir) rmSync(dirname(this.dataDir), { recursive: true, force: true });
  }
}

/** A loopback port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A namespace unique to one test, so tests can share one engine. */
export function uniqueGroup(name: string): string {
  return `${name}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Whether every thread under `/proc/PID/task` is stopped (state `T`). */
function allStopped(tasks: string): boolean {
  try {
    return readdirSync(tasks).every((tid) => {
      const stat = readFileSync(join(tasks, tid, "stat"), "utf8");
      // The state follows the command name, which is in parentheses.
      return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
    });
  } catch {
    return false; // a thread came or went while reading: look again
  }
}
