// statewell driven through its own TypeScript SDK (sdk/typescript, built):
// one connection, 64 calls in flight.
// Run: (cd ../sdk/typescript && npm ci && npm run build) && node statewell-sdk.mjs
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { GROUP, ROOT, keyName, makeValue, measureAll, preload, printMachine, startStatewell } from "./lib.mjs";

const SDK = join(ROOT, "sdk/typescript/dist/index.js");

export async function run() {
  if (!existsSync(SDK)) {
    console.log("statewell SDK: skipped (build it: cd sdk/typescript && npm ci && npm run build)");
    return [];
  }
  const { connect } = await import(pathToFileURL(SDK).href);
  const engine = await startStatewell();
  const sw = await connect({ url: engine.url, name: "statewell-bench" });
  const calls = {
    set: (i, seq) => sw.state.set(GROUP, keyName(i), makeValue(i, seq)),
    get: async (i) => {
      if ((await sw.state.get(GROUP, keyName(i))) === null) throw new Error(`missing ${keyName(i)}`);
    },
    update: (i) => sw.state.update(GROUP, keyName(i), [{ type: "increment", path: "count", by: 1 }]),
  };
  try {
    await preload(calls.set);
    return await measureAll(`statewell SDK → statewell (${engine.durability})`, calls);
  } finally {
    await sw.close();
    await engine.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printMachine();
  await run();
  process.exit(0);
}
