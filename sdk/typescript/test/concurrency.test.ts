// One connection multiplexes many calls in flight; atomic updates stay exact.
import { afterAll, beforeAll, expect, it } from "vitest";
import { connect, type Statewell } from "../src/index.js";
import { Engine, uniqueGroup } from "./helpers/engine.js";

let engine: Engine;
let sw: Statewell;

beforeAll(async () => {
  engine = await Engine.start();
  sw = await connect({ url: engine.url, timeoutMs: 20_000 });
});

afterAll(async () => {
  await sw?.close();
  await engine?.stop();
});

it("50 concurrent increments from one client end exact", async () => {
  const g = uniqueGroup("incr");
  const results = await Promise.all(
    Array.from({ length: 50 }, () => sw.state.update<{ n: number }>(g, "counter", [{ type: "increment", path: "n", by: 1 }])),
  );
  expect(await sw.state.get(g, "counter")).toEqual({ n: 50 });
  // Each increment saw a distinct previous value: 0 (missing) .. 49.
  const before = results.map((r) => r.old_value?.n ?? 0).sort((a, b) => a - b);
  expect(before).toEqual(Array.from({ length: 50 }, (_, i) => i));
});

it("50 concurrent increments from each of three connections end exact", async () => {
  const g = uniqueGroup("incr3");
  const clients = await Promise.all([1, 2, 3].map(() => connect({ url: engine.url, timeoutMs: 20_000 })));
  try {
    await Promise.all(
      clients.flatMap((c) =>
        Array.from({ length: 50 }, () => c.state.update(g, "counter", [{ type: "increment", path: "n", by: 1 }])),
      ),
    );
    expect(await sw.state.get(g, "counter")).toEqual({ n: 150 });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

it("1000 calls in flight on one socket each get their own answer", async () => {
  const g = uniqueGroup("mux");
  await Promise.all(Array.from({ length: 1000 }, (_, i) => sw.state.set(g, `k${i}`, { i })));
  const values = await Promise.all(Array.from({ length: 1000 }, (_, i) => sw.state.get<{ i: number }>(g, `k${i}`)));
  values.forEach((value, i) => expect(value).toEqual({ i }));
  expect((await sw.state.list(g)).length).toBe(1000);
});
