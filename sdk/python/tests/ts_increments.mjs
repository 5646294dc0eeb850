// The TypeScript half of the cross-language concurrency test: connects with
// the TypeScript SDK (path in STATEWELL_TS_SDK), says "ready", waits for "go"
// on stdin, then fires N concurrent increments of one counter.
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";

const { connect } = await import(pathToFileURL(process.env.STATEWELL_TS_SDK).href);
const [url, group, key, n] = process.argv.slice(2);
const sw = await connect({ url });
console.log("ready");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === "go") break;
}
const results = await Promise.all(
  Array.from({ length: Number(n) }, () =>
    sw.state.update(group, key, [{ type: "increment", path: "n", by: 1 }]),
  ),
);
await sw.close();
console.log(JSON.stringify({ done: results.length }));
