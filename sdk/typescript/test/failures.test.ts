// Failure behaviour: every failure is a typed error with a stable code, and
// no call ever hangs.
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import {
  AuthenticationError,
  connect,
  ConnectionError,
  StateError,
  TimeoutError,
  type Statewell,
} from "../src/index.js";
import { Engine, uniqueGroup } from "./helpers/engine.js";

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function startEngine(extra: string[] = []): Promise<Engine> {
  const engine = await Engine.start(extra);
  cleanup.push(() => engine.stop());
  return engine;
}

async function client(url: string, options: { token?: string; timeoutMs?: number } = {}): Promise<Statewell> {
  const sw = await connect({ url, timeoutMs: 5_000, maxBackoffMs: 200, ...options });
  cleanup.push(() => sw.close());
  return sw;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("engine stopped or restarted", () => {
  it("a call in flight when the engine dies fails with connection_lost", async () => {
    const engine = await startEngine();
    const sw = await client(engine.url);
    // Frozen: the request reaches the socket but is never answered...
    await engine.pause();
    const call = sw.state.get(uniqueGroup("g"), "k").catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    // ...then the process dies with the call in flight.
    await engine.signal("SIGKILL");
    const error = await call;
    const seen = `got: ${String(error)} (${(error as { code?: string })?.code})`;
    expect(error, seen).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code, seen).toBe("connection_lost");
    expect((error as Error).message).toMatch(/state::get/);
  });

  it("recovers after the engine restarts, with the data it acknowledged", async () => {
    const engine = await startEngine();
    const sw = await client(engine.url, { timeoutMs: 10_000 });
    const g = uniqueGroup("restart");
    await sw.state.set(g, "k", { kept: true });
    await engine.signal("SIGKILL");
    await waitFor(() => !sw.connected, "the client to notice the drop");
    const again = await engine.restart();
    cleanup.push(() => again.stop());
    // Made while reconnecting: waits for the new socket instead of failing.
    expect(await sw.state.get(g, "k")).toEqual({ kept: true });
    expect(sw.connected).toBe(true);
    await sw.state.set(g, "k2", 2);
    expect(await sw.state.list(g)).toEqual([{ kept: true }, 2]);
  });

  it("calls made while the engine is down fail with unavailable after the timeout", async () => {
    const engine = await startEngine();
    const sw = await client(engine.url, { timeoutMs: 500 });
    await engine.signal("SIGKILL");
    await waitFor(() => !sw.connected, "the client to notice the drop");
    const error = await sw.state.get("g", "k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe("unavailable");
  });

});

describe("auth", () => {
  it("refuses a missing or wrong token with unauthorized, accepts the right one", async () => {
    const engine = await startEngine(["--token", "s3cret"]);
    const none = await connect({ url: engine.url, token: "", timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(AuthenticationError);
    expect((none as StateError).code).toBe("unauthorized");
    // A retry budget does not retry a refused token: it fails at once all the same.
    const wrong = await connect({ url: engine.url, token: "nope", connectRetryMs: 60_000 }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(AuthenticationError);
    expect(wrong).toBeInstanceOf(StateError);
    expect(wrong).not.toBeInstanceOf(ConnectionError);
    expect((wrong as StateError).code).toBe("unauthorized");
    const sw = await client(engine.url, { token: "s3cret" });
    const g = uniqueGroup("auth");
    await sw.state.set(g, "k", 1);
    expect(await sw.state.get(g, "k")).toBe(1);
  });
});

describe("bad input", () => {
  it("an oversized value is refused with value_too_large and the connection stays usable", async () => {
    const engine = await startEngine();
    const sw = await client(engine.url);
    const g = uniqueGroup("big");
    const error = await sw.state.set(g, "k", "x".repeat(1024 * 1024 + 10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect((error as StateError).code).toBe("value_too_large");
    expect(await sw.state.get(g, "k")).toBeNull();
    await sw.state.set(g, "k", "small");
    expect(await sw.state.get(g, "k")).toBe("small");
  });

  it("an unknown op type fails the whole update with deserialization_error", async () => {
    const engine = await startEngine();
    const sw = await client(engine.url);
    const g = uniqueGroup("badops");
    await sw.state.set(g, "k", { n: 1 });
    const ops = [{ type: "increment", path: "n", by: 1 }, { type: "bogus", path: "n" }] as never;
    const error = await sw.state.update(g, "k", ops).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect((error as StateError).code).toBe("deserialization_error");
    expect(await sw.state.get(g, "k")).toEqual({ n: 1 });
    const noBy = await sw.state.update(g, "k", [{ type: "increment", path: "n" }] as never).catch((e: unknown) => e);
    expect((noBy as StateError).code).toBe("deserialization_error");
    const notAnOp = await sw.state.update(g, "k", "set" as never).catch((e: unknown) => e);
    expect((notAnOp as StateError).code).toBe("deserialization_error");
  });

  it("a value that is not JSON is refused before sending, with invalid_argument", async () => {
    const engine = await startEngine();
    const sw = await client(engine.url);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const error = await sw.state.set("g", "k", cyclic).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect((error as StateError).code).toBe("invalid_argument");
    expect((error as Error).message).toMatch(/value\.self .*cycle/);
    expect(await sw.state.get("g", "k")).toBeNull();
  });

  it("rejects malformed options at connect", async () => {
    await expect(connect({ url: "ws://127.0.0.1:1", timeoutMs: -1 })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(connect({ url: "ws://127.0.0.1:1", connectRetryMs: -1 })).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });
});

describe("timeouts and close (against a silent WebSocket peer)", () => {
  async function silentPeer(): Promise<string> {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((r) => server.once("listening", r));
    server.on("connection", (socket) => {
      // Registers the worker like an engine would, then never answers.
      socket.send(JSON.stringify({ type: "workerregistered", worker_id: crypto.randomUUID() }));
    });
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          for (const c of server.clients) c.terminate();
          server.close(() => r());
        }),
    );
    const address = server.address();
    if (typeof address === "string" || address === null) throw new Error("no address");
    return `ws://127.0.0.1:${address.port}/`;
  }

  it("a call with no answer fails with TimeoutError (code timeout)", async () => {
    const sw = await client(await silentPeer(), { timeoutMs: 200 });
    const error = await sw.state.get("g", "k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).code).toBe("timeout");
    expect((error as Error).message).toMatch(/state::get.*200 ms/);
  });

  it("close fails calls in flight with closed, and later calls at once", async () => {
    const sw = await client(await silentPeer(), { timeoutMs: 10_000 });
    const inFlight = sw.state.get("g", "k").catch((e: unknown) => e);
    await sw.close();
    const error = await inFlight;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe("closed");
    await expect(sw.state.get("g", "k")).rejects.toMatchObject({ code: "closed" });
  });
});
