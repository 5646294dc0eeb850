// statewell driven through the published iii-sdk client: one connection,
// 64 calls in flight — the shape of a busy Motia/iii worker.
// Run: node iii-sdk.mjs   (starts its own engine; or set STATEWELL_URL)
import { registerWorker } from "iii-sdk";
import { GROUP, config, keyName, makeValue, measureAll, preload, printMachine, startStatewell } from "./lib.mjs";

export async function run() {
  const engine = await startStatewell();
  const iii = registerWorker(engine.url, {
    workerName: "statewell-bench",
    otel: { enabled: false },
    enableMetricsReporting: false,
  });
  const call = (function_id, payload) => iii.trigger({ function_id, payload });
  const calls = {
    set: (i, seq) => call("state::set", { scope: GROUP, key: keyName(i), value: makeValue(i, seq) }),
    get: async (i) => {
      if ((await call("state::get", { scope: GROUP, key: keyName(i) })) == null) throw new Error(`missing ${keyName(i)}`);
    },
    update: (i) =>
      call("state::update", { scope: GROUP, key: keyName(i), ops: [{ type: "increment", path: "count", by: 1 }] }),
  };
  try {
    await preload(calls.set);
    return await measureAll(`iii-sdk → statewell (${engine.durability})`, calls);
  } finally {
    await iii.shutdown();
    await engine.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printMachine();
  await run();
  process.exit(0);
}
