// The language-neutral conformance vectors (<repo>/conformance/*.json), run
// through this SDK's public API: the results must be identical to Rust's and
// Python's. Format: conformance/README.md.
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, StatewellError, type Statewell } from "../src/index.js";
import { Engine, repoRoot } from "./helpers/engine.js";

interface Step {
  call: string;
  args: Record<string, any>;
  expect: { result: unknown } | { error: string };
}
interface Case {
  name: string;
  steps: Step[];
}
interface Suite {
  name: string;
  description?: string;
  cases: Case[];
}

const dir = join(repoRoot, "conformance");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort();
const suites = files.map((f) => ({ file: f, suite: JSON.parse(readFileSync(join(dir, f), "utf8")) as Suite }));

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

it("finds the conformance vectors", () => {
  expect(files.length).toBeGreaterThan(0);
  expect(suites.reduce((n, s) => n + s.suite.cases.length, 0)).toBeGreaterThan(0);
});

/** One case's view of the shared engine: its groups live under a unique prefix. */
function scoped(ns: string, scope: unknown): any {
  return typeof scope === "string" ? ns + scope : scope;
}

/** Calls the SDK method for one step and returns the result as the vectors write it. */
async function run(ns: string, step: Step): Promise<unknown> {
  const a = step.args ?? {};
  const scope = scoped(ns, a.scope);
  switch (step.call) {
    case "set":
      return sw.state.set(scope, a.key, a.value);
    case "get":
      return sw.state.get(scope, a.key);
    case "delete":
      return sw.state.delete(scope, a.key);
    case "update":
      return sw.state.update(scope, a.key, a.ops);
    case "list":
      return sw.state.list(scope);
    case "list_items": {
      const options: Record<string, unknown> = {};
      for (const name of ["prefix", "after", "limit"]) if (name in a) options[name] = a[name];
      const page = await sw.state.listItems(scope, options);
      // Versions are engine-specific: not compared.
      return { items: page.items.map(({ key, value }) => ({ key, value })), next: page.next };
    }
    case "clear":
      return sw.state.clear(scope);
    case "list_groups":
      return (await sw.state.listGroups()).filter((g) => g.startsWith(ns)).map((g) => g.slice(ns.length));
    default:
      throw new Error(`unknown call in the vectors: ${step.call}`);
  }
}

/** The vectors may write a result in its wire shape; the SDK returns the bare value. */
function expected(call: string, result: any): unknown {
  if (call === "clear" && result !== null && typeof result === "object" && "deleted" in result) return result.deleted;
  if (call === "list_groups" && result !== null && typeof result === "object" && "groups" in result) return result.groups;
  if (call === "update" && result !== null && typeof result === "object" && !("errors" in result)) {
    return { ...result, errors: [] };
  }
  if (call === "list_items" && result !== null && typeof result === "object" && Array.isArray(result.items)) {
    return { ...result, items: result.items.map(({ key, value }: any) => ({ key, value })) };
  }
  return result;
}

for (const { file, suite } of suites) {
  describe(`${file}: ${suite.name}`, () => {
    for (const testCase of suite.cases) {
      it(testCase.name, async () => {
        const ns = `${randomUUID()}/`;
        for (const [index, step] of testCase.steps.entries()) {
          const where = `step ${index} (${step.call} ${JSON.stringify(step.args)})`;
          if ("error" in step.expect) {
            const error = await run(ns, step).then(
              (result) => new Error(`${where}: expected error ${(step.expect as any).error}, got ${JSON.stringify(result)}`),
              (e: unknown) => e,
            );
            expect(error, where).toBeInstanceOf(StatewellError);
            expect((error as StatewellError).code, where).toBe(step.expect.error);
          } else {
            const result = await run(ns, step);
            expect(result, where).toEqual(expected(step.call, step.expect.result));
          }
        }
      });
    }
  });
}
