// What sdk/README.md promises both SDKs do alike (the Python suite checks the
// same in tests/test_common_behaviour.py), against the real engine: connect
// failures and the retry budget, URL forms, one op or a list, the error
// classes, and values JSON cannot hold.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConflictError,
  connect,
  ConnectionError,
  DEFAULT_URL,
  StateError,
  TimeoutError,
  type Statewell,
} from "../src/index.js";
import { Engine, freePort, uniqueGroup } from "./helpers/engine.js";

let engine: Engine;
let sw: Statewell;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  engine = await Engine.start();
  sw = await connect({ url: engine.url, timeoutMs: 10_000 });
});

afterAll(async () => {
  await sw?.close();
  await engine?.stop();
});

afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function failure(promise: Promise<unknown>): Promise<StateError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(StateError);
  return outcome.error as StateError;
}

describe("connecting", () => {
  it("fails at once with connect_failed where no engine listens; a retry budget waits for one that starts", async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    // The default timeoutMs is 30 s: this answer comes from the refused
    // connection, not from a timer.
    const error = await failure(connect({ url }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe("connect_failed");
    expect(error.message).toContain(url);

    // With a budget, connect keeps trying, and succeeds once an engine
    // starts on that port within it.
    const pending = connect({ url, connectRetryMs: 60_000, maxBackoffMs: 200 });
    const late = await Engine.startOn(port);
    cleanup.push(() => late.stop());
    const client = await pending;
    cleanup.push(() => client.close());
    const g = uniqueGroup("late");
    await client.state.set(g, "k", "reached");
    expect(await client.state.get(g, "k")).toBe("reached");
  });

  it("a spent retry budget fails with connect_failed, naming the budget", async () => {
    const url = `ws://127.0.0.1:${await freePort()}`;
    const error = await failure(connect({ url, connectRetryMs: 300, maxBackoffMs: 50 }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe("connect_failed");
    expect(error.message).toContain("retried for 300 ms");
  });

  it("takes ws:// and http:// for the same engine, and https:// as wss://", async () => {
    const port = engine.port;
    for (const url of [`ws://127.0.0.1:${port}`, `http://127.0.0.1:${port}`, `HTTP://127.0.0.1:${port}/`]) {
      const client = await connect({ url });
      cleanup.push(() => client.close());
      expect(client.url.startsWith("ws://"), client.url).toBe(true);
      const g = uniqueGroup("url");
      await client.state.set(g, "k", url);
      expect(await client.state.get(g, "k")).toBe(url);
    }
    // The engine here speaks plain WebSocket: a TLS client cannot reach it,
    // and the error names the wss:// address that was tried.
    for (const url of [`https://127.0.0.1:${port}`, `wss://127.0.0.1:${port}`]) {
      const error = await failure(connect({ url }));
      expect(error.code).toBe("connect_failed");
      expect(error.message).toContain(`wss://127.0.0.1:${port}`);
    }
  });

  it("defaults to STATEWELL_URL, and to the default address when it is empty", async () => {
    const saved = process.env.STATEWELL_URL;
    cleanup.push(() => {
      if (saved === undefined) delete process.env.STATEWELL_URL;
      else process.env.STATEWELL_URL = saved;
    });
    process.env.STATEWELL_URL = `http://${engine.addr}`;
    const client = await connect();
    cleanup.push(() => client.close());
    expect(client.url).toBe(`ws://${engine.addr}`);

    process.env.STATEWELL_URL = "";
    const outcome = await connect().then(
      async (c) => {
        await c.close();
        return c.url;
      },
      (error: StateError) => error.message,
    );
    // Whether or not an engine runs on the default port, the default was tried.
    expect(outcome).toContain(DEFAULT_URL);
  });

  it("refuses an address that is no engine URL with invalid_argument", async () => {
    for (const url of ["", "127.0.0.1:49134", "ftp://127.0.0.1:1", "ws://", "ws:///path", "ws://127.0.0.1:99999"]) {
      const error = await failure(connect({ url }));
      expect(error.code, url).toBe("invalid_argument");
    }
  });
});

describe("update", () => {
  it("takes one op or a list of ops", async () => {
    const g = uniqueGroup("ops");
    const one = await sw.state.update(g, "k", { type: "increment", path: "n", by: 2 });
    expect(one).toEqual({ old_value: null, new_value: { n: 2 }, errors: [] });
    const many = await sw.state.update(g, "k", [
      { type: "increment", path: "n", by: 3 },
      { type: "set", path: "s", value: "x" },
    ]);
    expect(many.new_value).toEqual({ n: 5, s: "x" });
    expect(many.errors).toEqual([]);
  });
});

describe("error classes follow the code", () => {
  // The engine forwards a worker's error code to the caller, so a function
  // that fails with a code shows how the client maps codes from the wire.
  it.each([
    ["conflict", ConflictError],
    ["unauthorized", AuthenticationError],
    ["timeout", TimeoutError],
    ["value_too_large", StateError],
  ])("code %s becomes %o", async (code, kind) => {
    const id = `test::fails_with::${uniqueGroup(code)}`;
    const unregister = sw.registerFunction(id, () => {
      throw Object.assign(new Error(`failed with ${code}`), { code });
    });
    cleanup.push(unregister);
    let error: StateError | undefined;
    for (let i = 0; i < 200; i++) {
      error = await failure(sw.invoke(id, {}));
      if (error.code !== "function_not_found") break; // the registration has not arrived yet
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(error).toBeInstanceOf(kind);
    expect(error!.code).toBe(code);
    expect(error!.message).toContain(`failed with ${code}`);
    expect(error!.functionId).toBe(id);
  });

  it("every class is a StateError with code and message", () => {
    for (const error of [
      new ConflictError("c"),
      new AuthenticationError("a"),
      new ConnectionError("connection_lost", "l"),
      new TimeoutError("t"),
    ]) {
      expect(error).toBeInstanceOf(StateError);
      expect(error).toBeInstanceOf(Error);
      expect(typeof error.code).toBe("string");
      expect(error.name).toBe(error.constructor.name);
    }
  });
});

describe("values JSON cannot hold", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const refused: Array<[string, unknown, RegExp]> = [
    ["undefined", undefined, /value is undefined/],
    ["a function", () => 1, /value is a function/],
    ["a symbol", Symbol("s"), /value is a symbol/],
    ["a BigInt without the bigint option", 10n, /value is a BigInt.*bigint: true/],
    ["NaN", Number.NaN, /value is NaN/],
    ["Infinity", Number.POSITIVE_INFINITY, /value is Infinity/],
    ["a Map", new Map([["a", 1]]), /value is a Map/],
    ["a Set", new Set([1]), /value is a Set/],
    ["a cycle", cyclic, /value\.self refers back/],
    ["a function property", { a: 1, f: () => 1 }, /value\.f is a function/],
    ["a symbol property", { s: Symbol("s") }, /value\.s is a symbol/],
    ["undefined in an array", [1, undefined], /value\[1\] is undefined/],
    ["a function in an array", [() => 1], /value\[0\] is a function/],
    ["a nested BigInt", { deep: [{ n: 1n }] }, /value\.deep\[0\]\.n is a BigInt/],
  ];

  it.each(refused)("%s is refused with invalid_argument, and nothing is stored", async (_what, value, message) => {
    const g = uniqueGroup("json");
    const error = await failure(sw.state.set(g, "k", value));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(message);
    expect(await sw.state.get(g, "k")).toBeNull();
    expect(await sw.state.listGroups()).not.toContain(g);
  });

  it("is refused in update ops and invoke payloads too", async () => {
    const g = uniqueGroup("json-ops");
    const op = await failure(sw.state.update(g, "k", { type: "set", path: "a", value: [undefined] }));
    expect(op.code).toBe("invalid_argument");
    const payload = await failure(sw.invoke("state::get", { scope: g, key: "k", extra: Number.NaN }));
    expect(payload.code).toBe("invalid_argument");
    expect(await sw.state.get(g, "k")).toBeNull();
  });

  it("an undefined object property is left out, as JSON.stringify does", async () => {
    const g = uniqueGroup("json-undefined");
    await sw.state.set(g, "k", { a: 1, note: undefined, nested: { b: undefined } });
    expect(await sw.state.get(g, "k")).toEqual({ a: 1, nested: {} });
    const stored = await sw.state.listItems(g);
    expect(JSON.stringify(stored.items[0]!.value)).toBe('{"a":1,"nested":{}}');
  });

  it("toJSON decides, a shared (not cyclic) object is fine, and BigInt goes through with the bigint option", async () => {
    const g = uniqueGroup("json-ok");
    const shared = { x: 1 };
    const when = new Date(Date.UTC(2024, 0, 2));
    await sw.state.set(g, "k", { when, a: shared, b: shared });
    expect(await sw.state.get(g, "k")).toEqual({ when: "2024-01-02T00:00:00.000Z", a: { x: 1 }, b: { x: 1 } });

    const exact = await connect({ url: engine.url, bigint: true });
    cleanup.push(() => exact.close());
    await exact.state.set(g, "big", { n: 2n ** 63n });
    expect(await exact.state.get(g, "big")).toEqual({ n: 2n ** 63n });
  });

  it("a handler result JSON cannot hold reaches the caller as invocation_failed", async () => {
    const id = `test::bad_result::${uniqueGroup("r")}`;
    cleanup.push(sw.registerFunction(id, () => ({ ok: true, later: () => 1 })));
    let error: StateError | undefined;
    for (let i = 0; i < 200; i++) {
      error = await failure(sw.invoke(id, {}));
      if (error.code !== "function_not_found") break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(error!.code).toBe("invocation_failed");
    expect(error!.message).toMatch(/result\.later is a function/);
  });
});
