// Every method of `sw.state` against the real engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, StateError, type Statewell, type UpdateOp } from "../src/index.js";
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

describe("state", () => {
  it("connects and is registered as a worker", () => {
    expect(sw.connected).toBe(true);
    expect(sw.workerId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sw.url).toBe(engine.url);
  });

  it("set returns new_value and old_value (null the first time)", async () => {
    const g = uniqueGroup("set");
    const first = await sw.state.set(g, "o-1", { id: "o-1", total: 10 });
    expect(first).toEqual({ new_value: { id: "o-1", total: 10 }, old_value: null });
    const second = await sw.state.set(g, "o-1", { id: "o-1", total: 12 });
    expect(second).toEqual({ new_value: { id: "o-1", total: 12 }, old_value: { id: "o-1", total: 10 } });
  });

  it("get returns the value, and null (not undefined) when missing", async () => {
    const g = uniqueGroup("get");
    await sw.state.set(g, "k", [1, "two", { three: 3 }]);
    expect(await sw.state.get(g, "k")).toEqual([1, "two", { three: 3 }]);
    const missing = await sw.state.get(g, "nope");
    expect(missing).toBeNull();
    expect(missing).not.toBeUndefined();
    expect(await sw.state.get(uniqueGroup("never"), "k")).toBeNull();
  });

  it("stores every kind of JSON value, including null", async () => {
    const g = uniqueGroup("json");
    const values = [null, true, false, 0, -1.5, 2 ** 53 - 1, "", "ünïcødé ✓", [], {}, { nested: { deep: [null] } }];
    for (const [i, value] of values.entries()) {
      await sw.state.set(g, `k${i}`, value);
      expect(await sw.state.get(g, `k${i}`)).toEqual(value);
    }
  });

  it("list returns every value of the group in key order, [] for an unknown group", async () => {
    const g = uniqueGroup("list");
    await sw.state.set(g, "b", 2);
    await sw.state.set(g, "a", 1);
    await sw.state.set(g, "c", 3);
    expect(await sw.state.list<number>(g)).toEqual([1, 2, 3]);
    expect(await sw.state.list(uniqueGroup("empty"))).toEqual([]);
  });

  it("listItems pages with keys, prefix and cursor", async () => {
    const g = uniqueGroup("items");
    for (const key of ["a1", "a2", "a3", "b1"]) await sw.state.set(g, key, { key });
    const page1 = await sw.state.listItems(g, { prefix: "a", limit: 2 });
    expect(page1.items.map((i) => [i.key, i.value])).toEqual([
      ["a1", { key: "a1" }],
      ["a2", { key: "a2" }],
    ]);
    expect(page1.next).toBe("a2");
    expect(typeof page1.items[0]!.version).toBe("number");
    const page2 = await sw.state.listItems(g, { prefix: "a", limit: 2, after: page1.next! });
    expect(page2.items.map((i) => i.key)).toEqual(["a3"]);
    expect(page2.next).toBeNull();
    const all = await sw.state.listItems(g);
    expect(all.items.map((i) => i.key)).toEqual(["a1", "a2", "a3", "b1"]);
    expect(all.next).toBeNull();
    const iterated: string[] = [];
    for await (const item of sw.state.iterateItems(g, { limit: 1 })) iterated.push(item.key);
    expect(iterated).toEqual(["a1", "a2", "a3", "b1"]);
  });

  it("delete returns the removed value, null when there was none", async () => {
    const g = uniqueGroup("delete");
    await sw.state.set(g, "k", { v: 1 });
    expect(await sw.state.delete(g, "k")).toEqual({ v: 1 });
    expect(await sw.state.get(g, "k")).toBeNull();
    expect(await sw.state.delete(g, "k")).toBeNull();
  });

  it("clear removes the whole group and returns the count", async () => {
    const g = uniqueGroup("clear");
    const other = uniqueGroup("clear-other");
    for (let i = 0; i < 5; i++) await sw.state.set(g, `k${i}`, i);
    await sw.state.set(other, "k", "kept");
    expect(await sw.state.clear(g)).toBe(5);
    expect(await sw.state.list(g)).toEqual([]);
    expect(await sw.state.clear(g)).toBe(0);
    expect(await sw.state.get(other, "k")).toBe("kept");
  });

  it("listGroups lists groups that hold items, sorted, and drops emptied ones", async () => {
    const prefix = uniqueGroup("groups");
    await sw.state.set(`${prefix}/b`, "k", 1);
    await sw.state.set(`${prefix}/a`, "k", 1);
    let groups = (await sw.state.listGroups()).filter((g) => g.startsWith(prefix));
    expect(groups).toEqual([`${prefix}/a`, `${prefix}/b`]);
    await sw.state.delete(`${prefix}/a`, "k");
    groups = (await sw.state.listGroups()).filter((g) => g.startsWith(prefix));
    expect(groups).toEqual([`${prefix}/b`]);
  });

  it("update applies every op kind in order and reports errors: []", async () => {
    const g = uniqueGroup("update");
    await sw.state.set(g, "o", { status: "new", count: 1, stock: 10, tags: ["a"], drop: true });
    const ops: UpdateOp[] = [
      { type: "set", path: "status", value: "paid" },
      { type: "increment", path: "count", by: 2 },
      { type: "decrement", path: "stock", by: 3 },
      { type: "append", path: "tags", value: "b" },
      { type: "merge", value: { extra: { x: 1 } } },
      { type: "remove", path: "drop" },
      { type: "set", path: ["meta", "by"], value: "ts" },
    ];
    const result = await sw.state.update(g, "o", ops);
    expect(result.errors).toEqual([]);
    expect(result.old_value).toEqual({ status: "new", count: 1, stock: 10, tags: ["a"], drop: true });
    expect(result.new_value).toEqual({
      status: "paid",
      count: 3,
      stock: 7,
      tags: ["a", "b"],
      extra: { x: 1 },
      meta: { by: "ts" },
    });
    expect(await sw.state.get(g, "o")).toEqual(result.new_value);
  });

  it("update on a missing key starts from {} with old_value null", async () => {
    const g = uniqueGroup("update-new");
    const result = await sw.state.update(g, "counter", [{ type: "increment", path: "n", by: 5 }]);
    expect(result).toEqual({ old_value: null, new_value: { n: 5 }, errors: [] });
  });

  it("a failing op is reported and skipped, the others still apply", async () => {
    const g = uniqueGroup("update-err");
    await sw.state.set(g, "o", { name: "x", n: 1 });
    const result = await sw.state.update(g, "o", [
      { type: "increment", path: "name", by: 1 },
      { type: "increment", path: "n", by: 1 },
    ]);
    expect(result.new_value).toEqual({ name: "x", n: 2 });
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ op_index: 0, code: "increment.not_number" });
    expect(typeof result.errors[0]!.message).toBe("string");
  });

  it("engine errors are StateError with the engine's code and the function id", async () => {
    const error = await sw.state.set("", "k", 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect((error as StateError).code).toBe("invalid_argument");
    expect((error as StateError).functionId).toBe("state::set");
    expect((error as StateError).message).toMatch(/scope/);
  });

  it("invoke reaches the engine's own functions by id", async () => {
    const g = uniqueGroup("invoke");
    await sw.invoke("state::set", { scope: g, key: "k", value: 7 });
    expect(await sw.invoke("state::get", { scope: g, key: "k" })).toBe(7);
    const error = await sw.invoke("nope::missing", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect((error as StateError).code).toBe("function_not_found");
  });
});
