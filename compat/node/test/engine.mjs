// Starts the real statewell binary (`STATEWELL_BIN`, default
// <repo>/target/debug/statewell) on a free loopback port with a temporary
// data directory, and stops it.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export async function startEngine(extra = []) {
  const bin = process.env.STATEWELL_BIN ?? join(repoRoot, "target/debug/statewell");
  if (!existsSync(bin)) throw new Error(`engine binary not found at ${bin}: run \`cargo build --bins\` or set STATEWELL_BIN`);
  const dir = mkdtempSync(join(tmpdir(), "statewell-compat-"));
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data", join(dir, "data"), ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const addr = await new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      const match = /^listening on (\S+)$/.exec(line.trim());
      if (match) resolvePromise(match[1]);
      else reject(new Error(`unexpected first line from the engine: ${line}`));
      lines.on("line", () => {}); // keep draining stdout
    });
    child.once("exit", (code, signal) => reject(new Error(`the engine exited (${code ?? signal}) before listening`)));
  });
  return {
    url: `ws://${addr}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a truthy value (bounded: never hangs a test). */
export async function eventually(check, what, attempts = 200) {
  for (let i = 0; i < attempts; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}
