// Functions and state triggers between workers, through the engine.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connect, StateError, type StateChangeEvent, type Statewell } from "../src/index.js";
import { Engine, uniqueGroup } from "./helpers/engine.js";

let engine: Engine;
let a: Statewell;
let b: Statewell;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  engine = await Engine.start();
  a = await connect({ url: engine.url, timeoutMs: 10_000, name: "worker-a" });
  b = await connect({ url: engine.url, timeoutMs: 10_000, name: "worker-b" });
});

afterEach(() => {
  while (cleanup.length > 0) cleanup.pop()!();
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await engine?.stop();
});

/** Polls until `check` passes (bounded: a test never hangs). */
async function eventually<T>(check: () => Promise<T> | T, what: string): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 200; i++) {
    try {
      return await check();
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`gave up waiting for ${what}: ${String(last)}`);
}

/** Calls a function registered by another worker once its registration has reached the engine. */
async function invokeWhenReady<O>(client: Statewell, id: string, payload: unknown): Promise<O> {
  for (let i = 0; i < 200; i++) {
    try {
      return await client.invoke<O>(id, payload);
    } catch (error) {
      if (!(error instanceof StateError && error.code === "function_not_found")) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`${id} never became callable`);
}

function collector<T = unknown>() {
  const events: StateChangeEvent<T>[] = [];
  return { events, handler: (event: StateChangeEvent<T>) => void events.push(event) };
}

describe("functions", () => {
  it("a function registered by one worker is called by another, async handlers included", async () => {
    cleanup.push(
      a.registerFunction("math::add", async ({ x, y }: { x: number; y: number }) => {
        await new Promise((r) => setTimeout(r, 5));
        return { sum: x + y };
      }),
    );
    expect(await invokeWhenReady(b, "math::add", { x: 2, y: 3 })).toEqual({ sum: 5 });
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => b.invoke("math::add", { x: i, y: i })));
    expect(many).toEqual(Array.from({ length: 20 }, (_, i) => ({ sum: 2 * i })));
  });

  it("a thrown error goes back to the caller as a function error", async () => {
    cleanup.push(
      a.registerFunction("fail::plain", () => {
        throw new Error("payment declined");
      }),
    );
    cleanup.push(
      // A handler whose promise rejects (what an async function that throws returns).
      a.registerFunction("fail::coded", () =>
        Promise.reject(Object.assign(new Error("no such order"), { code: "order_not_found" })),
      ),
    );
    const plain = await invokeWhenReady(b, "fail::plain", {}).catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(StateError);
    expect((plain as StateError).code).toBe("invocation_failed");
    expect((plain as StateError).message).toMatch(/payment declined/);
    const coded = await invokeWhenReady(b, "fail::coded", {}).catch((e: unknown) => e);
    expect((coded as StateError).code).toBe("order_not_found");
  });

  it("invokeVoid runs the function without waiting for it", async () => {
    const g = uniqueGroup("void");
    cleanup.push(a.registerFunction("audit::log", async (p: { key: string }) => a.state.set(g, p.key, "logged")));
    await invokeWhenReady(b, "audit::log", { key: "warmup" });
    b.invokeVoid("audit::log", { key: "k" });
    expect(await eventually(async () => (await b.state.get(g, "k")) ?? Promise.reject(new Error("not yet")), "the void call")).toBe("logged");
  });

  it("an unregistered function is no longer callable", async () => {
    const unregister = a.registerFunction("temp::fn", () => "here");
    expect(await invokeWhenReady(b, "temp::fn", {})).toBe("here");
    unregister();
    await eventually(async () => {
      const error = await b.invoke("temp::fn", {}).then(
        () => new Error("still callable"),
        (e: unknown) => e,
      );
      if (!(error instanceof StateError)) throw error;
      expect(error.code).toBe("function_not_found");
    }, "temp::fn to go away");
  });
});

describe("onStateChange", () => {
  it("delivers created, updated and deleted events for its group only", async () => {
    const g = uniqueGroup("orders");
    const { events, handler } = collector();
    cleanup.push(a.onStateChange({ groupId: g }, handler));
    await a.state.set(g, "o-1", { status: "new" });
    await a.state.update(g, "o-1", [{ type: "set", path: "status", value: "paid" }]);
    await a.state.set(uniqueGroup("elsewhere"), "o-1", "ignored");
    await a.state.delete(g, "o-1");
    await eventually(() => expect(events).toHaveLength(3), "three events");
    expect(events).toEqual([
      { type: "state", event_type: "state:created", scope: g, key: "o-1", old_value: null, new_value: { status: "new" } },
      {
        type: "state",
        event_type: "state:updated",
        scope: g,
        key: "o-1",
        old_value: { status: "new" },
        new_value: { status: "paid" },
      },
      { type: "state", event_type: "state:deleted", scope: g, key: "o-1", old_value: { status: "paid" }, new_value: null },
    ]);
  });

  it("filters by key, and sees writes made by other workers", async () => {
    const g = uniqueGroup("keyed");
    const { events, handler } = collector();
    cleanup.push(a.onStateChange({ groupId: g, key: "watched" }, handler));
    // The trigger is registered on a's socket; wait until b's writes reach it.
    await eventually(async () => {
      await b.state.set(g, "watched", "probe");
      expect(events.length).toBeGreaterThan(0);
    }, "the trigger to be active");
    await b.state.set(g, "other", 1);
    await b.state.set(g, "watched", 2);
    // Late probe events may still arrive: look only at the writes under test.
    const tested = () => events.filter((e) => e.new_value !== "probe");
    await eventually(() => expect(tested().map((e) => [e.key, e.new_value])).toEqual([["watched", 2]]), "the keyed event");
  });

  it("a condition returning false skips the handler", async () => {
    const g = uniqueGroup("cond");
    const { events, handler } = collector<{ total: number }>();
    cleanup.push(a.onStateChange<{ total: number }>({ groupId: g }, handler, { condition: (e) => (e.new_value?.total ?? 0) > 100 }));
    await a.state.set(g, "small", { total: 5 });
    await a.state.set(g, "big", { total: 500 });
    await a.state.set(g, "small2", { total: 7 });
    await a.state.set(g, "big2", { total: 900 });
    await eventually(() => expect(events.map((e) => e.key)).toEqual(["big", "big2"]), "the big orders");
  });

  it("stops after unsubscribe", async () => {
    const g = uniqueGroup("unsub");
    const { events, handler } = collector();
    const unsubscribe = a.onStateChange({ groupId: g }, handler);
    await a.state.set(g, "k1", 1);
    await eventually(() => expect(events).toHaveLength(1), "the first event");
    unsubscribe();
    await a.state.set(g, "k2", 2);
    // A marker trigger registered after the unsubscribe sees k3: by then k2 had its chance.
    const marker = collector();
    cleanup.push(a.onStateChange({ groupId: g }, marker.handler));
    await a.state.set(g, "k3", 3);
    await eventually(() => expect(marker.events.map((e) => e.key)).toContain("k3"), "the marker");
    expect(events.map((e) => e.key)).toEqual(["k1"]);
  });
});

describe("after a reconnect", () => {
  it("events raised while the socket was briefly down are delivered after it returns", async () => {
    const watcher = await connect({ url: engine.url, timeoutMs: 10_000, maxBackoffMs: 200 });
    try {
      const g = uniqueGroup("gap");
      const { events, handler } = collector();
      watcher.onStateChange({ groupId: g }, handler);
      await eventually(async () => {
        await b.state.set(g, "probe", 0);
        expect(events.length).toBeGreaterThan(0);
      }, "the trigger to be active");
      // Drop only this client's socket (the engine keeps running); the
      // client reconnects by itself and registers its trigger again.
      (watcher as unknown as { connection: { ws: { terminate(): void } } }).connection.ws.terminate();
      await eventually(() => expect(watcher.connected).toBe(false), "the drop");
      await b.state.set(g, "during-gap", 1);
      await eventually(() => expect(watcher.connected).toBe(true), "the reconnect");
      await b.state.set(g, "after-gap", 2);
      await eventually(
        () => expect(events.map((e) => e.key).filter((k) => k !== "probe")).toEqual(["during-gap", "after-gap"]),
        "both events, in order",
      );
    } finally {
      await watcher.close();
    }
  });

  it("functions and triggers are registered again", async () => {
    const own = await Engine.start();
    const server = await connect({ url: own.url, timeoutMs: 10_000, maxBackoffMs: 200 });
    const g = uniqueGroup("again");
    const { events, handler } = collector();
    server.registerFunction("echo::again", (p: unknown) => p);
    server.onStateChange({ groupId: g }, handler);
    await own.signal("SIGKILL");
    const restarted = await own.restart();
    const caller = await connect({ url: restarted.url, timeoutMs: 10_000 });
    try {
      expect(await invokeWhenReady(caller, "echo::again", { hi: 1 })).toEqual({ hi: 1 });
      await server.state.set(g, "k", "after");
      await eventually(() => expect(events.map((e) => e.new_value)).toContain("after"), "the trigger after restart");
    } finally {
      await caller.close();
      await server.close();
      await restarted.stop();
    }
  });
});
