// `npm pack` makes a tarball that installs and works from plain JavaScript,
// with `require` and with `import`, and whose types resolve for both.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Engine } from "./helpers/engine.js";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
let work: string;
let engine: Engine;

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, STATEWELL_URL: engine.url } });
}

beforeAll(async () => {
  engine = await Engine.start();
  work = mkdtempSync(join(tmpdir(), "statewell-pack-"));
  // `prepack` builds dist/ first, so the tarball is always current.
  run("npm", ["pack", "--silent", "--pack-destination", work], sdkDir);
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (tarball === undefined) throw new Error("npm pack produced no tarball");
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  // `ws` comes from the local cache that `npm ci` filled.
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", `./${tarball}`], work);
}, 120_000);

afterAll(async () => {
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it("the tarball holds only the built package, the README and the licences", () => {
  // dist/ was built by the real `npm pack` above; the dry run lists what a publish would send.
  const [listing] = JSON.parse(run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], sdkDir)) as Array<{
    files: Array<{ path: string }>;
  }>;
  const packed = listing!.files.map((f) => f.path).sort();
  expect(packed).toEqual(
    expect.arrayContaining([
      "dist/index.js", // ESM
      "dist/index.cjs", // CommonJS
      "dist/index.d.ts", // types for import
      "dist/index.d.cts", // types for require
      "README.md",
      "LICENSE-MIT",
      "LICENSE-APACHE",
      "package.json",
    ]),
  );
  expect(packed.filter((f) => f.startsWith("src/") || f.startsWith("test/") || f.startsWith("node_modules/"))).toEqual([]);
  const top = readdirSync(join(work, "node_modules/statewell")).sort();
  expect(top).not.toContain("src");
  expect(top).not.toContain("test");
});

/** The fields of the installed package.json this test reads. */
interface PackageMeta {
  license?: unknown;
  engines?: unknown;
  description?: unknown;
  repository?: { url?: unknown };
  homepage?: unknown;
  bugs?: { url?: unknown };
  author?: unknown;
  keywords?: unknown;
}

it("carries the metadata a registry shows", () => {
  const meta = JSON.parse(readFileSync(join(work, "node_modules/statewell/package.json"), "utf8")) as PackageMeta;
  expect(meta.license).toBe("MIT OR Apache-2.0");
  expect(meta.engines).toEqual({ node: ">=20" });
  expect(meta.description).toMatch(/statewell/);
  expect(meta.repository?.url).toMatch(/^git\+https:\/\//);
  expect(meta.homepage).toMatch(/^https:\/\//);
  expect(meta.bugs?.url).toMatch(/^https:\/\//);
  expect(meta.author).toBeTruthy();
  expect(meta.keywords).toEqual(expect.arrayContaining(["state", "key-value"]));
});

it("works with require from CommonJS", () => {
  writeFileSync(
    join(work, "main.cjs"),
    `const { connect, StateError } = require("statewell");
(async () => {
  const sw = await connect();
  await sw.state.set("cjs", "k", { from: "require" });
  const value = await sw.state.get("cjs", "k");
  const missing = await sw.state.get("cjs", "missing");
  const err = await sw.state.set("", "k", 1).catch((e) => e);
  await sw.close();
  console.log(JSON.stringify({ value, missing, typed: err instanceof StateError, code: err.code }));
})();
`,
  );
  const out: unknown = JSON.parse(run("node", ["main.cjs"], work));
  expect(out).toEqual({ value: { from: "require" }, missing: null, typed: true, code: "invalid_argument" });
});

it("works with import from ES modules", () => {
  writeFileSync(
    join(work, "main.mjs"),
    `import { connect, StateError } from "statewell";
const sw = await connect();
await sw.state.set("esm", "k", { from: "import" });
const r = await sw.state.update("esm", "k", [{ type: "increment", path: "n", by: 2 }]);
const err = await sw.state.set("", "k", 1).catch((e) => e);
await sw.close();
console.log(JSON.stringify({ value: r.new_value, errors: r.errors, typed: err instanceof StateError }));
`,
  );
  const out: unknown = JSON.parse(run("node", ["main.mjs"], work));
  expect(out).toEqual({ value: { from: "import", n: 2 }, errors: [], typed: true });
});

// Two compiler runs: they can take longer than the default test timeout on a busy machine.
it("ships types that resolve for both import and require", { timeout: 120_000 }, () => {
  const tsc = join(sdkDir, "node_modules/typescript/bin/tsc");
  const usage = `
const sw = await connect({ url: "ws://127.0.0.1:1", timeoutMs: 10 });
const set: StreamSetResult<{ n: number }> = await sw.state.set("g", "k", { n: 1 });
const got: { n: number } | null = await sw.state.get<{ n: number }>("g", "k");
const op: UpdateOp = { type: "increment", path: "n", by: 1 };
const groups: string[] = await sw.state.listGroups();
export { set, got, op, groups };
`;
  writeFileSync(join(work, "esm.mts"), `import { connect, type StreamSetResult, type UpdateOp } from "statewell";\n${usage}`);
  writeFileSync(
    join(work, "cjs.cts"),
    `import sw_ = require("statewell");\ntype StreamSetResult<T> = sw_.StreamSetResult<T>;\ntype UpdateOp = sw_.UpdateOp;\nasync function main() {\nconst connect = sw_.connect;\n${usage.replace("export { set, got, op, groups };", "return [set, got, op, groups];")}}\nexport = main;\n`,
  );
  // Wrong uses must fail to compile, so the check above is not vacuous.
  const wrong = {
    "an op without its by": `import type { UpdateOp } from "statewell";\nconst op: UpdateOp = { type: "increment", path: "n" };\nexport { op };\n`,
    "a typed get read as the wrong type": `import { connect } from "statewell";\nconst sw = await connect();\nconst got: { n: string } | null = await sw.state.get<{ n: number }>("g", "k");\nexport { got };\n`,
    "a typed get used as if never missing": `import { connect } from "statewell";\nconst sw = await connect();\nconst n: number = (await sw.state.get<{ n: number }>("g", "k")).n;\nexport { n };\n`,
  };
  const args = ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--skipLibCheck", "--types", "node", "--typeRoots", join(sdkDir, "node_modules/@types")];
  run("node", [tsc, ...args, "esm.mts", "cjs.cts"], work);
  // One compiler run for every wrong use: each file must have its own error.
  const bad = Object.values(wrong).map((source, i) => {
    writeFileSync(join(work, `bad${i}.mts`), source);
    return `bad${i}.mts`;
  });
  let output = "";
  try {
    run("node", [tsc, ...args, ...bad], work);
  } catch (error) {
    output = String((error as { stdout?: unknown }).stdout);
  }
  for (const [i, what] of Object.keys(wrong).entries()) {
    expect(output, what).toMatch(new RegExp(`^bad${i}\\.mts\\(\\d+,\\d+\\): error`, "m"));
  }
});
