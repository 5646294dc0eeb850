// Shared by the Node load scripts: a closed-loop driver (N requests in
// flight from one Node process, each replaced as soon as it completes), the
// same ~200-byte JSON values as `statewell-bench`, and starting the servers
// (a statewell engine, a redis-server) on free loopback ports.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export const config = {
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  warmupSeconds: Number(process.env.BENCH_WARMUP_SECONDS ?? 1),
  inFlight: Number(process.env.BENCH_IN_FLIGHT ?? 64),
  keys: Number(process.env.BENCH_KEYS ?? 10_000),
  valueSize: Number(process.env.BENCH_VALUE_SIZE ?? 200),
  ops: (process.env.BENCH_OPS ?? "set,get,update").split(","),
};

for (const [name, v] of Object.entries(config)) {
  if (name !== "ops" && !(Number.isFinite(v) && v >= 0)) {
    throw new Error(`bad ${name}: ${v}`);
  }
}

export const GROUP = "bench-0";

export function keyName(i) {
  return `k${String(i).padStart(9, "0")}`;
}

/** A JSON object of `config.valueSize` bytes once serialised (same shape as the Rust generator). */
export function makeValue(i, seq) {
  const base = { id: keyName(i), count: seq, owner: "bench", active: true, tags: ["a", "b"], pad: "" };
  const used = JSON.stringify(base).length;
  base.pad = "x".repeat(Math.max(0, config.valueSize - used));
  return base;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Keeps `inFlight` calls of `call(i, seq)` running for `seconds`; returns
 * ops/s and latency percentiles (ms). A call that throws counts as an error.
 */
export async function closedLoop(call, { seconds, inFlight = config.inFlight, record = true }) {
  const deadline = performance.now() + seconds * 1000;
  const latencies = [];
  let ops = 0;
  let errors = 0;
  let seq = 0;
  const lane = async (laneNo) => {
    let x = laneNo * 2654435761;
    while (performance.now() < deadline) {
      x = (x * 1103515245 + 12345) >>> 0;
      const i = x % config.keys;
      seq += 1;
      const t0 = performance.now();
      try {
        await call(i, seq);
      } catch (e) {
        errors += 1;
        if (errors === 1) console.error(`  first error: ${e?.message ?? e}`);
      }
      if (record) latencies.push(performance.now() - t0);
      ops += 1;
    }
  };
  const began = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, (_, n) => lane(n + 1)));
  const elapsed = (performance.now() - began) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // This Node process's CPU over the run, % of one core: near 100% means
  // the client, not the server, is the bound.
  const clientCpuPct = ((cpu.user + cpu.system) / 1e6 / elapsed) * 100;
  latencies.sort((a, b) => a - b);
  return {
    ops,
    errors,
    seconds: elapsed,
    opsPerSec: ops / elapsed,
    clientCpuPct,
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    p999: percentile(latencies, 0.999),
    max: latencies.at(-1) ?? 0,
  };
}

/** Stores every key once (not measured), `inFlight` deep. */
export async function preload(set) {
  let next = 0;
  const lane = async () => {
    while (next < config.keys) {
      const i = next++;
      await set(i, 0);
    }
  };
  await Promise.all(Array.from({ length: 256 }, lane));
}

/** Warm-up, then measure each operation in `config.ops`; prints one line each. */
export async function measureAll(label, calls) {
  const results = [];
  for (const op of config.ops) {
    const call = calls[op];
    if (!call) throw new Error(`unknown op ${op}`);
    if (config.warmupSeconds > 0) await closedLoop(call, { seconds: config.warmupSeconds, record: false });
    const r = await closedLoop(call, { seconds: config.seconds });
    results.push({ client: label, op, ...r });
    console.log(
      `${label.padEnd(36)} ${op.padEnd(7)} ${(r.opsPerSec / 1000).toFixed(1).padStart(7)}k ops/s  ` +
        `p50 ${r.p50.toFixed(2)}  p99 ${r.p99.toFixed(2)}  p99.9 ${r.p999.toFixed(2)}  max ${r.max.toFixed(2)} ms  ` +
        `client cpu ${r.clientCpuPct.toFixed(0)}%  errors ${r.errors}`,
    );
  }
  return results;
}

async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** A server process with its temp dir; `stop()` ends both. */
function handle(child, dir, extra) {
  return {
    child,
    ...extra,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once("exit", ok));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The engine to measure: $STATEWELL_URL when set, otherwise a fresh one
 * ($STATEWELL_BIN, default target/release/statewell, else target/debug).
 */
export async function startStatewell(durability = process.env.BENCH_DURABILITY ?? "always") {
  if (process.env.STATEWELL_URL) {
    return { url: process.env.STATEWELL_URL, durability: "external", async stop() {} };
  }
  const bin =
    process.env.STATEWELL_BIN ??
    [join(ROOT, "target/release/statewell"), join(ROOT, "target/debug/statewell")].find(existsSync);
  if (!bin) throw new Error("no statewell binary: run cargo build --release, or set STATEWELL_BIN");
  const dir = mkdtempSync(join(tmpdir(), "statewell-bench-"));
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data", join(dir, "data"), "--durability", durability], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((ok, fail) => {
    lines.once("line", ok);
    child.once("exit", (code) => fail(new Error(`statewell exited (${code}) before listening`)));
  });
  const m = /^listening on (\S+)$/.exec(first);
  if (!m) throw new Error(`unexpected first line from statewell: ${first}`);
  lines.on("line", () => {});
  return handle(child, dir, { url: `ws://${m[1]}/`, durability, bin });
}

/** redis-server on a free port, persisting with the given appendfsync. */
export async function startRedis(appendfsync) {
  const bin = execFileSync("bash", [join(ROOT, "scripts/install-redis.sh")], { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "statewell-bench-redis-"));
  const port = await freePort();
  const child = spawn(
    bin,
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes",
     "--appendfsync", appendfsync, "--save", "", "--daemonize", "no"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  // redis-server binds a moment after it starts.
  for (let tries = 0; ; tries++) {
    const up = await new Promise((ok) => {
      const s = tcpConnect(port, "127.0.0.1", () => (s.end(), ok(true)));
      s.on("error", () => ok(false));
    });
    if (up) break;
    if (tries > 200 || child.exitCode !== null) throw new Error("redis-server did not start");
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return handle(child, dir, { port, appendfsync });
}

export function printMachine() {
  let cpu = "";
  try {
    cpu = execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: "utf8" }).trim();
  } catch {}
  console.log(
    `node ${process.version}, ${cpu}; ${config.inFlight} in flight on one connection, ` +
      `${config.keys} keys, ${config.valueSize}-byte values, ${config.seconds} s per op`,
  );
}
