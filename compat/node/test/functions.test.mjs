// iii-sdk workers calling each other's functions and reacting to state
// changes through statewell, exactly as Motia/iii workers do.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { registerWorker, TriggerAction } from "iii-sdk";
import { eventually, startEngine } from "./engine.mjs";

process.env.OTEL_ENABLED = "false";

let engine;
let a;
let b;

function worker(url, name) {
  return registerWorker(url, {
    workerName: name,
    invocationTimeoutMs: 10_000,
    enableMetricsReporting: false,
    otel: { enabled: false },
  });
}

/** Calls once the owner's registration has reached the engine. */
async function triggerWhenReady(client, function_id, payload) {
  return eventually(async () => {
    try {
      return { value: await client.trigger({ function_id, payload }) };
    } catch (error) {
      if (error.code === "function_not_found") return undefined;
      throw error;
    }
  }, `${function_id} to be callable`).then((r) => r.value);
}

before(async () => {
  engine = await startEngine();
  a = worker(engine.url, "compat-a");
  b = worker(engine.url, "compat-b");
});

after(async () => {
  await a?.shutdown();
  await b?.shutdown();
  await engine?.stop();
});

describe("functions between iii-sdk workers", () => {
  it("registerFunction on one worker, trigger from another", async () => {
    a.registerFunction("orders::total", async ({ items }) => ({ total: items.reduce((s, i) => s + i, 0) }));
    assert.deepEqual(await triggerWhenReady(b, "orders::total", { items: [1, 2, 3] }), { total: 6 });
  });

  it("a throwing handler reaches the caller as an error", async () => {
    a.registerFunction("orders::fail", async () => {
      throw new Error("declined");
    });
    await assert.rejects(triggerWhenReady(b, "orders::fail", {}), (error) => {
      assert.equal(error.code, "invocation_failed");
      assert.match(error.message, /declined/);
      return true;
    });
  });

  it("a void trigger runs the function without a reply", async () => {
    const scope = `void-${randomUUID()}`;
    a.registerFunction("orders::note", async ({ key }) => {
      await a.trigger({ function_id: "state::set", payload: { scope, key, value: "noted" } });
      return null;
    });
    await triggerWhenReady(b, "orders::note", { key: "warmup" });
    const returned = await b.trigger({ function_id: "orders::note", payload: { key: "k" }, action: TriggerAction.Void() });
    assert.equal(returned, undefined);
    await eventually(async () => (await b.trigger({ function_id: "state::get", payload: { scope, key: "k" } })) === "noted", "the void call");
  });
});

describe("state triggers through iii-sdk", () => {
  it("registerTrigger type state delivers created/updated/deleted events of its scope", async () => {
    const scope = `orders-${randomUUID()}`;
    const events = [];
    a.registerFunction("orders::on_change", async (event) => {
      // Late probe events may still arrive: keep only the ones under test.
      if (event.key !== "probe") events.push(event);
      return null;
    });
    a.registerTrigger({ type: "state", function_id: "orders::on_change", config: { scope } });
    // Writes from the other worker; wait until the trigger is live.
    let live = false;
    a.registerFunction("orders::probe_seen", async () => {
      live = true;
      return null;
    });
    a.registerTrigger({ type: "state", function_id: "orders::probe_seen", config: { scope, key: "probe" } });
    await eventually(async () => {
      await b.trigger({ function_id: "state::set", payload: { scope, key: "probe", value: 0 } });
      return live;
    }, "the trigger to be active");
    await b.trigger({ function_id: "state::set", payload: { scope, key: "o-1", value: { status: "new" } } });
    await b.trigger({
      function_id: "state::update",
      payload: { scope, key: "o-1", ops: [{ type: "set", path: "status", value: "paid" }] },
    });
    await b.trigger({ function_id: "state::set", payload: { scope: `${scope}-other`, key: "o-1", value: 1 } });
    await b.trigger({ function_id: "state::delete", payload: { scope, key: "o-1" } });
    await eventually(() => events.length >= 3, "three events");
    assert.deepEqual(events, [
      { type: "state", event_type: "state:created", scope, key: "o-1", old_value: null, new_value: { status: "new" } },
      { type: "state", event_type: "state:updated", scope, key: "o-1", old_value: { status: "new" }, new_value: { status: "paid" } },
      { type: "state", event_type: "state:deleted", scope, key: "o-1", old_value: { status: "paid" }, new_value: null },
    ]);
  });

  it("a condition function returning false skips the handler", async () => {
    const scope = `cond-${randomUUID()}`;
    const seen = [];
    let probed = false;
    a.registerFunction("orders::is_big", async (event) => (event.new_value?.total ?? 0) > 100);
    a.registerFunction("orders::on_big", async (event) => {
      if (event.key !== "probe") seen.push(event.key);
      else probed = true;
      return null;
    });
    a.registerTrigger({
      type: "state",
      function_id: "orders::on_big",
      config: { scope, condition_function_id: "orders::is_big" },
    });
    await eventually(async () => {
      await b.trigger({ function_id: "state::set", payload: { scope, key: "probe", value: { total: 1000 } } });
      return probed;
    }, "the trigger to be active");
    await b.trigger({ function_id: "state::set", payload: { scope, key: "small", value: { total: 5 } } });
    await b.trigger({ function_id: "state::set", payload: { scope, key: "big", value: { total: 500 } } });
    await eventually(() => seen.includes("big"), "the big order");
    assert.deepEqual(seen, ["big"]);
  });
});
