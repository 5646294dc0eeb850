// Starts the real statewell binary ($STATEWELL_BIN, default
// <repo>/target/debug/statewell) on a free loopback port with the memory
// store, and gives the tests an HTTP client of its API to set up state and
// check what the console did.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { test as base } from "@playwright/test";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export async function startEngine(extra = []) {
  const bin = process.env.STATEWELL_BIN ?? join(repoRoot, "target/debug/statewell");
  if (!existsSync(bin)) {
    throw new Error(`engine binary not found at ${bin}: run \`cargo build --bins\` or set STATEWELL_BIN`);
  }
  const env = { ...process.env, STATEWELL_LOG: "warn" };
  for (const name of ["STATEWELL_TOKEN", "STATEWELL_LISTEN", "STATEWELL_STORE", "STATEWELL_URL"]) delete env[name];
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--store", "memory", ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
    env,
  });
  const addr = await new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      const match = /^listening on (\S+)$/.exec(line.trim());
      if (match) resolvePromise(match[1]);
      else reject(new Error(`unexpected first line from the engine: ${line}`));
      lines.on("line", () => {}); // keep draining stdout
    });
    child.once("exit", (code, signal) => reject(new Error(`the engine exited (${code ?? signal}) before listening`)));
  });
  const token = extra.includes("--token") ? extra[extra.indexOf("--token") + 1] : null;
  return {
    addr,
    url: `http://${addr}`,
    api: new Api(`http://${addr}`, token),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

const enc = encodeURIComponent;

/** The engine's HTTP API, for setting up and checking state. */
export class Api {
  constructor(base, token) {
    this.base = base;
    this.token = token;
  }

  async request(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, etag: response.headers.get("etag") };
  }

  put(group, key, value) {
    return this.request("PUT", `/v1/groups/${enc(group)}/items/${enc(key)}`, value);
  }

  /** PUT with the body as given (JSON text the test wrote by hand). */
  async putText(group, key, text) {
    const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    const response = await fetch(`${this.base}/v1/groups/${enc(group)}/items/${enc(key)}`, {
      method: "PUT",
      headers,
      body: text,
    });
    return { status: response.status, body: await response.text() };
  }

  get(group, key) {
    return this.request("GET", `/v1/groups/${enc(group)}/items/${enc(key)}`);
  }

  delete(group, key) {
    return this.request("DELETE", `/v1/groups/${enc(group)}/items/${enc(key)}`);
  }

  async size(group) {
    return (await this.request("GET", `/v1/groups/${enc(group)}`)).body.items;
  }

  /** Stores many items, a few requests at a time. */
  async fill(group, entries) {
    const queue = [...entries];
    const lanes = Array.from({ length: 16 }, async () => {
      while (queue.length) {
        const [key, value] = queue.shift();
        const reply = await this.put(group, key, value);
        if (reply.status >= 300) throw new Error(`PUT ${key}: ${reply.status}`);
      }
    });
    await Promise.all(lanes);
  }
}

/**
 * Stores many items at once over the worker protocol (one WebSocket,
 * pipelined `state::set` calls), from a blank page of the test's browser:
 * far quicker than thousands of HTTP requests.
 */
export async function fillFast(context, engine, group, entries) {
  const page = await context.newPage();
  try {
    await page.evaluate(
      ({ url, group, entries }) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(url);
          let left = entries.length;
          ws.onerror = () => reject(new Error("the worker socket failed"));
          ws.onmessage = (message) => {
            const frame = JSON.parse(message.data);
            if (frame.type !== "invocationresult") return;
            if (frame.error) reject(new Error(JSON.stringify(frame.error)));
            if (--left === 0) {
              ws.close();
              resolve();
            }
          };
          ws.onopen = () => {
            entries.forEach(([key, value], i) => {
              const data = { scope: group, key, value };
              ws.send(JSON.stringify({ type: "invokefunction", invocation_id: String(i), function_id: "state::set", data }));
            });
          };
        }),
      { url: `ws://${engine.addr}/`, group, entries },
    );
  } finally {
    await page.close();
  }
}

/** A group name no other test uses. */
export function uniqueGroup(name) {
  return `${name}-${Math.random().toString(36).slice(2, 8)}`;
}

export const consoleUrl = {
  group: (engine, group) => `${engine.url}/ui/groups/${enc(group)}`,
  item: (engine, group, key) => `${engine.url}/ui/groups/${enc(group)}/items/${enc(key)}`,
};

/** `test` with an `engine` shared by the tests of a file (one process). */
export const test = base.extend({
  engine: [
    // biome-ignore lint: Playwright needs the destructuring pattern.
    async ({}, use) => {
      const engine = await startEngine();
      await use(engine);
      await engine.stop();
    },
    { scope: "worker" },
  ],
});

export { expect } from "@playwright/test";
