import { defineConfig } from "tsup";

// One entry, two module formats (ESM for `import`, CommonJS for `require`) and
// type declarations for each, so plain JavaScript and TypeScript users both work.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  platform: "node",
  splitting: false,
  treeshake: true,
});
