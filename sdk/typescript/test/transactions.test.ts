// Conditions, transactions and idempotency keys through the typed SDK,
// against the real engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, connect, StateError, type Statewell } from "../src/index.js";
import { Engine, uniqueGroup } from "./helpers/engine.js";

let engine: Engine;
let sw: Statewell;

beforeAll(async () => {
  engine = await Engine.start();
  sw = await connect({ url: engine.url, timeoutMs: 10_000 });
});

afterAll(async () => {
  await sw?.close();
  await engine?.stop();
});

describe("conditions and transactions", () => {
  it("getItem gives the version that ifVersion takes; a stale one is a ConflictError", async () => {
    const g = uniqueGroup("cond");
    expect(await sw.state.getItem(g, "k")).toBeNull();
    await sw.state.set(g, "k", { n: 1 });
    const item = await sw.state.getItem<{ n: number }>(g, "k");
    expect(item?.value).toEqual({ n: 1 });
    const version = item?.version ?? -1;
    await sw.state.set(g, "k", { n: 2 }, { ifVersion: version });
    const stale = sw.state.update(g, "k", { type: "increment", path: "n", by: 1 }, { ifVersion: version });
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    const error = (await stale.catch((e: unknown) => e)) as ConflictError;
    expect(error.code).toBe("conflict");
    expect(error.currentVersion).toBeGreaterThan(version);
    await expect(sw.state.set(g, "k", 0, { ifAbsent: true })).rejects.toBeInstanceOf(ConflictError);
    expect(await sw.state.get(g, "k")).toEqual({ n: 2 });
  });

  it("a transaction applies all or nothing and names the failing op", async () => {
    const g = uniqueGroup("txn");
    await sw.state.set(g, "a", { n: 10 });
    const moved = await sw.state.transaction([
      { type: "update", groupId: g, key: "a", ops: [{ type: "decrement", path: "n", by: 3 }] },
      { type: "update", groupId: g, key: "b", ops: [{ type: "increment", path: "n", by: 3 }] },
    ]);
    expect(moved.results.map((r) => r.new_value)).toEqual([{ n: 7 }, { n: 3 }]);
    const failed = sw.state.transaction([
      { type: "set", groupId: g, key: "a", value: 0 },
      { type: "check", groupId: g, key: "b", ifAbsent: true },
    ]);
    const error = (await failed.catch((e: unknown) => e)) as ConflictError;
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.opIndex).toBe(1);
    expect(await sw.state.get(g, "a")).toEqual({ n: 7 });
  });

  it("a retried increment with one idempotency key counts once", async () => {
    const g = uniqueGroup("idem");
    const key = `${g}-retry`;
    for (let i = 0; i < 10; i++) {
      await sw.state.update(g, "n", { type: "increment", path: "n", by: 1 }, { idempotencyKey: key });
    }
    expect(await sw.state.get(g, "n")).toEqual({ n: 1 });
    const other = sw.state.update(g, "n", { type: "increment", path: "n", by: 2 }, { idempotencyKey: key });
    const error = (await other.catch((e: unknown) => e)) as StateError;
    expect(error.code).toBe("idempotency_mismatch");
  });
});
