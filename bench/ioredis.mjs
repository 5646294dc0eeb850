// redis-server driven through ioredis from the same Node process shape: one
// connection, 64 commands in flight (HSET / HGET / HINCRBY on one hash),
// with appendfsync always, then everysec.
// Run: node ioredis.mjs   (starts its own redis-server on a free port)
import Redis from "ioredis";
import { GROUP, keyName, makeValue, measureAll, preload, printMachine, startRedis } from "./lib.mjs";

export async function run() {
  const results = [];
  for (const appendfsync of ["always", "everysec"]) {
    const server = await startRedis(appendfsync);
    const redis = new Redis({ host: "127.0.0.1", port: server.port, lazyConnect: true });
    await redis.connect();
    const calls = {
      set: (i, seq) => redis.hset(GROUP, keyName(i), JSON.stringify(makeValue(i, seq))),
      get: async (i) => {
        if ((await redis.hget(GROUP, keyName(i))) == null) throw new Error(`missing ${keyName(i)}`);
      },
      update: (i) => redis.hincrby(GROUP, `${keyName(i)}:count`, 1),
    };
    try {
      await preload(calls.set);
      results.push(...(await measureAll(`ioredis → redis (${appendfsync})`, calls)));
    } finally {
      redis.disconnect();
      await server.stop();
    }
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printMachine();
  await run();
  process.exit(0);
}
