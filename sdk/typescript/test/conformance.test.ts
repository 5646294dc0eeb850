// The language-neutral conformance vectors (<repo>/conformance/*.json), run
// through this SDK's public API: the results must be identical to Rust's and
// Python's. The format and comparison rules are conformance/README.md.
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, StateError, type Statewell, type UpdateOp } from "../src/index.js";
import { parseLossless } from "../src/json.js";
import { Engine, repoRoot } from "./helpers/engine.js";

interface Step {
  call: string;
  args: Record<string, unknown>;
  expect: { result: unknown } | { error: string };
}
interface Case {
  name: string;
  steps: Step[];
}
interface Suite {
  name: string;
  cases: Case[];
}

const SCOPE_LIMIT = 1024;
const dir = join(repoRoot, "conformance");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort();
// Parsed losslessly: the vectors hold integers up to 2^64-1 that must stay exact.
const suites = files.map((f) => ({ file: f, suite: parseLossless(readFileSync(join(dir, f), "utf8")) as Suite }));

let engine: Engine;
let sw: Statewell;

beforeAll(async () => {
  engine = await Engine.start();
  sw = await connect({ url: engine.url, timeoutMs: 10_000, bigint: true });
});

afterAll(async () => {
  await sw?.close();
  await engine?.stop();
});

it("finds the conformance vectors", () => {
  expect(files.length).toBeGreaterThan(0);
  expect(suites.reduce((n, s) => n + s.suite.cases.length, 0)).toBeGreaterThan(0);
});

/**
 * Cases run on the shared engine under a unique scope prefix, except a case
 * whose accepted scopes would be pushed over the size limit by the prefix:
 * that one gets a fresh engine of its own (so nothing is skipped).
 */
function needsOwnStore(testCase: Case, ns: string): boolean {
  return testCase.steps.some((s) => {
    const scope = s.args?.scope;
    if (typeof scope !== "string") return false;
    const bytes = Buffer.byteLength(scope);
    return bytes <= SCOPE_LIMIT && bytes + Buffer.byteLength(ns) > SCOPE_LIMIT;
  });
}

/** Empty, non-string and missing scopes are under test themselves: left alone. */
function scoped(ns: string, scope: unknown): unknown {
  return typeof scope === "string" && scope !== "" ? ns + scope : scope;
}

// The typed SDK methods take exactly these arguments; other shapes (aliases,
// missing or extra fields) go through the generic `invoke`, unchanged.
const methodArgs: Record<string, { required: string[]; optional: string[] }> = {
  set: { required: ["scope", "key", "value"], optional: [] },
  get: { required: ["scope", "key"], optional: [] },
  delete: { required: ["scope", "key"], optional: [] },
  update: { required: ["scope", "key", "ops"], optional: [] },
  list: { required: ["scope"], optional: [] },
  list_items: { required: ["scope"], optional: ["prefix", "after", "limit"] },
  clear: { required: ["scope"], optional: [] },
  list_groups: { required: [], optional: [] },
  get_item: { required: ["scope", "key"], optional: [] },
  transaction: { required: ["ops"], optional: ["idempotency_key"] },
};

/** The wire's write options, as the SDK's `WriteOptions`. */
const optionNames: Record<string, string> = {
  if_version: "ifVersion",
  if_absent: "ifAbsent",
  idempotency_key: "idempotencyKey",
};

function fitsMethod(call: string, args: Record<string, unknown>): boolean {
  const shape = methodArgs[call];
  if (shape === undefined) throw new Error(`unknown call in the vectors: ${call}`);
  // Options of the right types go to the typed methods as `WriteOptions`.
  const keys = Object.keys(args).filter((k) => !(k in optionNames && optionFits(k, args[k], call)));
  if (call === "transaction") {
    if (!Array.isArray(args.ops)) return false;
    if (!args.ops.every((op) => op !== null && typeof op === "object" && typeof (op as { scope?: unknown }).scope === "string")) return false;
  }
  // The SDK's update takes one op as a list of one: ops that are not a list
  // test the wire's own refusal, so they go through invoke.
  if (call === "update" && !Array.isArray(args.ops)) return false;
  return (
    shape.required.every((k) => keys.includes(k)) &&
    keys.every((k) => shape.required.includes(k) || shape.optional.includes(k))
  );
}

function optionFits(name: string, value: unknown, call: string): boolean {
  if (!["set", "update", "delete", "clear", "transaction"].includes(call)) return false;
  if (call === "clear" || call === "transaction") return name === "idempotency_key" && typeof value === "string";
  if (name === "if_version") return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
  if (name === "if_absent") return typeof value === "boolean";
  return typeof value === "string";
}

function writeOptions(args: Record<string, unknown>): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [wire, sdk] of Object.entries(optionNames)) if (wire in args) options[sdk] = args[wire];
  return options;
}

/** Calls the SDK for one step; returns the result in the SDK's shape. */
async function run(client: Statewell, ns: string, step: Step): Promise<unknown> {
  const args: Record<string, unknown> = { ...(step.args ?? {}) };
  if ("scope" in args) args.scope = scoped(ns, args.scope);
  // conformance/README.md: op scopes and idempotency keys are namespaced too.
  if (Array.isArray(args.ops) && step.call === "transaction") {
    args.ops = args.ops.map((op: unknown) =>
      op !== null && typeof op === "object" && "scope" in op ? { ...op, scope: scoped(ns, op.scope) } : op,
    );
  }
  if (typeof args.idempotency_key === "string" && args.idempotency_key !== "") {
    args.idempotency_key = ns + args.idempotency_key;
  }
  let result: unknown;
  if (fitsMethod(step.call, args)) {
    const s = client.state;
    // The vectors' values go to the typed methods as they are, whatever their
    // type: the engine's refusal of a wrong type is under test too.
    const { scope, key, value, ops } = args as { scope: string; key: string; value: unknown; ops: UpdateOp[] };
    const options = writeOptions(args);
    switch (step.call) {
      case "set":
        result = await s.set(scope, key, value, options);
        break;
      case "get":
        result = await s.get(scope, key);
        break;
      case "get_item":
        result = await s.getItem(scope, key);
        break;
      case "transaction": {
        const typed = (args.ops as Array<Record<string, unknown>>).map(({ scope: groupId, if_version, if_absent, ...rest }) => ({
          ...rest,
          groupId,
          ...(if_version === undefined ? {} : { ifVersion: if_version }),
          ...(if_absent === undefined ? {} : { ifAbsent: if_absent }),
        }));
        result = await s.transaction(typed as unknown as Parameters<typeof s.transaction>[0], options);
        break;
      }
      case "delete":
        result = await s.delete(scope, key, options);
        break;
      case "update":
        result = await s.update(scope, key, ops, options);
        break;
      case "list":
        result = await s.list(scope);
        break;
      case "list_items": {
        const options: Record<string, unknown> = { ...args };
        delete options.scope;
        result = await s.listItems(scope, options);
        break;
      }
      case "clear":
        result = await s.clear(scope, options);
        break;
      case "list_groups":
        result = await s.listGroups();
        break;
    }
  } else {
    result = await client.invoke(`state::${step.call}`, args);
    // The same normalisation the typed methods apply.
    if (["get", "delete", "get_item"].includes(step.call) && result === undefined) result = null;
    if (step.call === "update" && result !== null && typeof result === "object" && !("errors" in result)) {
      result = { ...result, errors: [] };
    }
    if (step.call === "clear") result = (result as { deleted: number }).deleted;
    if (step.call === "list_groups") result = (result as { groups: string[] }).groups;
  }
  return normalise(step.call, ns, result);
}

/** A page as the comparison reads it: keys and values, not versions. */
interface Page {
  items: Array<{ key: unknown; value: unknown }>;
  next: unknown;
}

function keysAndValues(page: Page): { items: Array<{ key: unknown; value: unknown }>; next: unknown } {
  return { items: page.items.map(({ key, value }) => ({ key, value })), next: page.next };
}

/** Applies the README's comparison rules to an actual result. */
function normalise(call: string, ns: string, result: unknown): unknown {
  switch (call) {
    case "update": {
      const update = result as { errors: Array<{ op_index: unknown; code: unknown; message: unknown }> };
      return {
        ...update,
        errors: update.errors.map((e) => {
          expect(typeof e.message === "string" && e.message.length > 0, `update error message: ${JSON.stringify(e)}`).toBe(true);
          return { op_index: e.op_index, code: e.code };
        }),
      };
    }
    case "list_items":
      return keysAndValues(result as Page);
    case "list_groups":
      return (result as string[]).filter((g) => g.startsWith(ns)).map((g) => g.slice(ns.length));
    // Versions are the store's revisions: checked for their kind, dropped.
    case "get_item":
      return result === null ? null : withoutVersion(result);
    case "transaction":
      return { results: (result as { results: unknown[] }).results.map(withoutVersion) };
    default:
      return result;
  }
}

function withoutVersion(value: unknown): unknown {
  const { version, ...rest } = value as { version: unknown };
  expect(version === null || (typeof version === "number" && version >= 0), `version: ${JSON.stringify(value)}`).toBe(true);
  return rest;
}

/** The vectors write results in their wire shape where the SDK returns a bare value. */
function expected(call: string, result: unknown): unknown {
  if (call === "clear") return (result as { deleted: unknown }).deleted;
  if (call === "list_groups") return (result as { groups: unknown }).groups;
  if (call === "list_items") return keysAndValues(result as Page);
  return result;
}

async function runCase(client: Statewell, ns: string, testCase: Case): Promise<void> {
  for (const [index, step] of testCase.steps.entries()) {
    const where = `step ${index} (${step.call})`;
    if ("error" in step.expect) {
      const outcome = await run(client, ns, step).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      expect(outcome, `${where}: expected error ${step.expect.error}`).toHaveProperty("error");
      const error = (outcome as { error: unknown }).error;
      expect(error, where).toBeInstanceOf(StateError);
      expect((error as StateError).code, where).toBe(step.expect.error);
    } else {
      expect(await run(client, ns, step), where).toEqual(expected(step.call, step.expect.result));
    }
  }
}

for (const { file, suite } of suites) {
  describe(`${file}: ${suite.name}`, () => {
    for (const testCase of suite.cases) {
      it(testCase.name, async () => {
        const ns = `${randomUUID()}/`;
        if (!needsOwnStore(testCase, ns)) {
          await runCase(sw, ns, testCase);
          return;
        }
        const own = await Engine.start();
        const client = await connect({ url: own.url, timeoutMs: 10_000, bigint: true });
        try {
          await runCase(client, "", testCase);
        } finally {
          await client.close();
          await own.stop();
        }
      });
    }
  });
}
