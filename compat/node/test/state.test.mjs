// The published iii-sdk Node client (pinned in package.json) uses statewell
// for its state exactly as a Motia/iii worker would: `registerWorker(url)`,
// then `trigger({ function_id: "state::...", payload })`.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { InvocationError, registerWorker, TriggerAction } from "iii-sdk";
import { eventually, startEngine } from "./engine.mjs";

let engine;
let iii;

// Telemetry goes to the engine's /otel socket in iii; not needed here.
process.env.OTEL_ENABLED = "false";

function worker(url, options = {}) {
  return registerWorker(url, {
    workerName: "statewell-compat",
    invocationTimeoutMs: 10_000,
    enableMetricsReporting: false,
    otel: { enabled: false },
    ...options,
  });
}

const call = (function_id, payload) => iii.trigger({ function_id, payload });

before(async () => {
  engine = await startEngine();
  iii = worker(engine.url);
});

after(async () => {
  await iii?.shutdown();
  await engine?.stop();
});

describe("state through iii-sdk", () => {
  it("set returns {old_value, new_value}", async () => {
    const scope = `orders-${randomUUID()}`;
    const first = await call("state::set", { scope, key: "o-1", value: { id: "o-1", status: "new" } });
    assert.deepEqual(first, { old_value: null, new_value: { id: "o-1", status: "new" } });
    const second = await call("state::set", { scope, key: "o-1", value: { id: "o-1", status: "paid" } });
    assert.deepEqual(second, { old_value: { id: "o-1", status: "new" }, new_value: { id: "o-1", status: "paid" } });
  });

  it("set accepts `data` as an alias of `value`", async () => {
    const scope = `alias-${randomUUID()}`;
    await call("state::set", { scope, key: "k", data: { via: "data" } });
    assert.deepEqual(await call("state::get", { scope, key: "k" }), { via: "data" });
  });

  it("get returns the value, and undefined (result omitted) when missing", async () => {
    const scope = `get-${randomUUID()}`;
    await call("state::set", { scope, key: "k", value: [1, { two: 2 }] });
    assert.deepEqual(await call("state::get", { scope, key: "k" }), [1, { two: 2 }]);
    assert.equal(await call("state::get", { scope, key: "missing" }), undefined);
    // A stored null is present: it comes back as null, not undefined.
    await call("state::set", { scope, key: "null", value: null });
    assert.equal(await call("state::get", { scope, key: "null" }), null);
  });

  it("update applies ops atomically and omits errors when none failed", async () => {
    const scope = `update-${randomUUID()}`;
    await call("state::set", { scope, key: "o", value: { status: "new", total: 10, stock: 3 } });
    const result = await call("state::update", {
      scope,
      key: "o",
      ops: [
        { type: "set", path: "status", value: "paid" },
        { type: "increment", path: "total", by: 5 },
        { type: "decrement", path: "stock", by: 1 },
      ],
    });
    assert.deepEqual(result, {
      old_value: { status: "new", total: 10, stock: 3 },
      new_value: { status: "paid", total: 15, stock: 2 },
    });
    const missing = await call("state::update", { scope, key: "counter", ops: [{ type: "increment", path: "n", by: 1 }] });
    assert.deepEqual(missing, { old_value: null, new_value: { n: 1 } });
  });

  it("update reports a failed op in errors and applies the rest", async () => {
    const scope = `update-err-${randomUUID()}`;
    await call("state::set", { scope, key: "o", value: { name: "x", n: 1 } });
    const result = await call("state::update", {
      scope,
      key: "o",
      ops: [
        { type: "increment", path: "name", by: 1 },
        { type: "increment", path: "n", by: 1 },
      ],
    });
    assert.deepEqual(result.new_value, { name: "x", n: 2 });
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0].op_index, 0);
    assert.equal(result.errors[0].code, "increment.not_number");
  });

  it("50 concurrent increments end exact", async () => {
    const scope = `incr-${randomUUID()}`;
    await Promise.all(
      Array.from({ length: 50 }, () =>
        call("state::update", { scope, key: "c", ops: [{ type: "increment", path: "n", by: 1 }] }),
      ),
    );
    assert.deepEqual(await call("state::get", { scope, key: "c" }), { n: 50 });
  });

  it("list returns the values of a scope in key order, [] for an unknown one", async () => {
    const scope = `list-${randomUUID()}`;
    await call("state::set", { scope, key: "b", value: 2 });
    await call("state::set", { scope, key: "a", value: 1 });
    assert.deepEqual(await call("state::list", { scope }), [1, 2]);
    assert.deepEqual(await call("state::list", { scope: `none-${randomUUID()}` }), []);
  });

  it("delete returns the deleted value, undefined when missing", async () => {
    const scope = `delete-${randomUUID()}`;
    await call("state::set", { scope, key: "k", value: { v: 1 } });
    assert.deepEqual(await call("state::delete", { scope, key: "k" }), { v: 1 });
    assert.equal(await call("state::get", { scope, key: "k" }), undefined);
    assert.equal(await call("state::delete", { scope, key: "k" }), undefined);
  });

  it("list_groups returns {groups} sorted, without emptied groups", async () => {
    const prefix = `groups-${randomUUID()}`;
    await call("state::set", { scope: `${prefix}/b`, key: "k", value: 1 });
    await call("state::set", { scope: `${prefix}/a`, key: "k", value: 1 });
    const { groups } = await call("state::list_groups", {});
    assert.deepEqual(groups.filter((g) => g.startsWith(prefix)), [`${prefix}/a`, `${prefix}/b`]);
    await call("state::delete", { scope: `${prefix}/a`, key: "k" });
    const after = await call("state::list_groups", {});
    assert.deepEqual(after.groups.filter((g) => g.startsWith(prefix)), [`${prefix}/b`]);
  });

  it("statewell's additions are reachable the same way: clear and list_items", async () => {
    const scope = `clear-${randomUUID()}`;
    for (const key of ["k1", "k2", "k3"]) await call("state::set", { scope, key, value: key });
    const page = await call("state::list_items", { scope, limit: 2 });
    assert.deepEqual(page.items.map((i) => [i.key, i.value]), [["k1", "k1"], ["k2", "k2"]]);
    assert.equal(page.next, "k2");
    assert.deepEqual(await call("state::clear", { scope }), { deleted: 3 });
    assert.deepEqual(await call("state::list", { scope }), []);
  });

  it("a void set is applied without a reply", async () => {
    const scope = `void-${randomUUID()}`;
    const returned = await iii.trigger({
      function_id: "state::set",
      payload: { scope, key: "k", value: "fire-and-forget" },
      action: TriggerAction.Void(),
    });
    assert.equal(returned, undefined);
    await eventually(async () => (await call("state::get", { scope, key: "k" })) === "fire-and-forget", "the void set");
  });
});

describe("errors through iii-sdk", () => {
  async function rejection(promise) {
    try {
      await promise;
    } catch (error) {
      return error;
    }
    assert.fail("expected the call to fail");
  }

  it("an unknown function fails with function_not_found", async () => {
    const error = await rejection(call("state::bogus", { scope: "s", key: "k" }));
    assert.ok(error instanceof InvocationError);
    assert.equal(error.code, "function_not_found");
    assert.equal(error.message.includes("state::bogus"), true);
  });

  it("a payload that does not deserialize fails with deserialization_error", async () => {
    const missingKey = await rejection(call("state::get", { scope: "s" }));
    assert.equal(missingKey.code, "deserialization_error");
    assert.match(missingKey.message, /key/);
    const badOp = await rejection(call("state::update", { scope: "s", key: "k", ops: [{ type: "bogus" }] }));
    assert.equal(badOp.code, "deserialization_error");
  });

  it("an empty scope is refused with invalid_argument", async () => {
    const error = await rejection(call("state::set", { scope: "", key: "k", value: 1 }));
    assert.equal(error.code, "invalid_argument");
  });

  it("an oversized value is refused with value_too_large, the worker stays usable", async () => {
    const scope = `big-${randomUUID()}`;
    const error = await rejection(call("state::set", { scope, key: "k", value: "x".repeat(1024 * 1024 + 10) }));
    assert.equal(error.code, "value_too_large");
    await call("state::set", { scope, key: "k", value: "small" });
    assert.equal(await call("state::get", { scope, key: "k" }), "small");
  });
});

describe("auth through iii-sdk", () => {
  it("with --token, the worker sends the token in its handshake headers", async () => {
    const secured = await startEngine(["--token", "s3cret"]);
    const good = worker(secured.url, { headers: { Authorization: "Bearer s3cret" } });
    try {
      const scope = `auth-${randomUUID()}`;
      await good.trigger({ function_id: "state::set", payload: { scope, key: "k", value: 1 } });
      assert.equal(await good.trigger({ function_id: "state::get", payload: { scope, key: "k" } }), 1);
      // A worker without the token never gets a socket: its call times out.
      const bad = worker(secured.url, { invocationTimeoutMs: 500, reconnectionConfig: { maxRetries: 0 } });
      try {
        await assert.rejects(
          bad.trigger({ function_id: "state::get", payload: { scope, key: "k" } }),
          (error) => error.code === "TIMEOUT",
        );
      } finally {
        await bad.shutdown();
      }
    } finally {
      await good.shutdown();
      await secured.stop();
    }
  });
});
