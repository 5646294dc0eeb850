// Every Node client, one after the other, then one table of ops/s with the
// ratio of each statewell client to ioredis against redis (always).
// Run: npm ci && node run-all.mjs   (BENCH_SECONDS, BENCH_IN_FLIGHT, ... tune it)
import { config, printMachine } from "./lib.mjs";
import { run as iii } from "./iii-sdk.mjs";
import { run as redis } from "./ioredis.mjs";
import { run as sdk } from "./statewell-sdk.mjs";

printMachine();
const results = [...(await redis()), ...(await iii()), ...(await sdk())];
const clients = [...new Set(results.map((r) => r.client))];
const baseline = results.filter((r) => r.client === "ioredis → redis (always)");
console.log();
console.log(`${"client".padEnd(36)}${config.ops.map((op) => op.padStart(22)).join("")}`);
for (const client of clients) {
  const cells = config.ops.map((op) => {
    const r = results.find((x) => x.client === client && x.op === op);
    const b = baseline.find((x) => x.op === op);
    if (!r) return "-".padStart(22);
    const ratio = b ? ` (${(r.opsPerSec / b.opsPerSec).toFixed(2)}×)` : "";
    return `${(r.opsPerSec / 1000).toFixed(1)}k/s${ratio}`.padStart(22);
  });
  console.log(`${client.padEnd(36)}${cells.join("")}`);
}
console.log("ratios: ops/s ÷ ioredis → redis (always), same op");
if (process.env.BENCH_JSON) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(process.env.BENCH_JSON, JSON.stringify({ config, results }, null, 2) + "\n");
}
const failed = results.reduce((n, r) => n + r.errors, 0);
process.exit(failed > 0 ? 1 : 0);
