// Lossless JSON for the `bigint` option: integers beyond ±2^53 (which the
// engine keeps exactly, up to u64/i64) come back as BigInt instead of a
// rounded double, and BigInt values are sent as exact JSON integers.

// A safe integer has at most 16 digits; any longer run of digits might be an
// unsafe one, so only such texts take the slow, exact parser.
const LONG_DIGITS = /\d{16}/;

/** JSON.parse, except that integers outside the safe range become BigInt. */
export function parseLossless(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return new LosslessParser(text).parseDocument();
}

class LosslessParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    const value = this.value();
    this.space();
    if (this.pos !== this.text.length) this.fail("unexpected text after the JSON value");
    return value;
  }

  private fail(what: string): never {
    throw new SyntaxError(`${what} at position ${this.pos}`);
  }

  private space(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else break;
    }
  }

  private value(): unknown {
    this.space();
    const c = this.text[this.pos];
    switch (c) {
      case "{":
        return this.object();
      case "[":
        return this.array();
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
        return this.fail("unexpected character");
    }
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`expected ${word}`);
    this.pos += word.length;
    return value;
  }

  private object(): Record<string, unknown> {
    // A null-prototype object is not needed: values are plain data, and a
    // "__proto__" key is defined as an own property below.
    const out: Record<string, unknown> = {};
    this.pos++; // {
    this.space();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.pos] !== '"') this.fail("expected a string key");
      const key = this.string();
      this.space();
      if (this.text[this.pos] !== ":") this.fail("expected ':'");
      this.pos++;
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.space();
      const c = this.text[this.pos++];
      if (c === "}") return out;
      if (c !== ",") this.fail("expected ',' or '}'");
    }
  }

  private array(): unknown[] {
    const out: unknown[] = [];
    this.pos++; // [
    this.space();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.space();
      const c = this.text[this.pos++];
      if (c === "]") return out;
      if (c !== ",") this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    // Find the closing quote, skipping escapes, and let JSON.parse decode it.
    const start = this.pos;
    let i = start + 1;
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(i);
      if (Number.isNaN(c)) this.fail("unterminated string");
      if (c === 0x5c) i += 2;
      else if (c === 0x22) break;
      else i++;
    }
    this.pos = i + 1;
    return JSON.parse(t.slice(start, this.pos)) as string;
  }

  private number(): number | bigint {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos, this.pos + 400));
    if (match === null) return this.fail("bad number");
    const token = match[0];
    this.pos += token.length;
    if (match[2] === undefined && match[3] === undefined) {
      const n = Number(token);
      return Number.isSafeInteger(n) ? n : BigInt(token);
    }
    return Number(token);
  }
}

const MARK = `\u0000bigint:${Math.random().toString(36).slice(2)}:`;
const MARKED = new RegExp(`"${MARK.replace("\u0000", "\\\\u0000")}(-?\\d+)"`, "g");

/** JSON.stringify that writes BigInt values as exact JSON integers. */
export function stringifyLossless(value: unknown): string | undefined {
  const json = JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${MARK}${v.toString()}` : v));
  return json === undefined ? undefined : json.replace(MARKED, "$1");
}

/**
 * Why `value` cannot be sent as JSON, or null when it can. JSON.stringify
 * would not refuse these, it would change them silently: a function or
 * `undefined` in an array becomes `null`, NaN and ±Infinity become `null`, a
 * Map or a Set becomes `{}`, a function property disappears. The one change
 * let through is an object property that is `undefined`: it is left out, as
 * JSON.stringify does, which is what an optional property means in
 * TypeScript. Cycles and BigInt (without the `bigint` option) are refused
 * here too, with a path, instead of JSON.stringify's TypeError.
 *
 * The message names the offending part by its path from `root`
 * (`result.items[2] is a function, ...`); with `root` "" the path starts at
 * `value`'s own properties, as for a call's payload (`value.items[2]` in a
 * `set`).
 */
export function jsonProblem(value: unknown, bigint: boolean, root: string): string | null {
  const problem = problemIn(value, bigint, []);
  if (problem === null) return null;
  const where = root !== "" ? `${root}${problem.at}` : problem.at.replace(/^\./, "") || "the payload";
  return `${where} ${problem.reason}`;
}

/** What is wrong, and where (`at` is a path suffix such as `.items[2]`, built only on failure). */
interface Problem {
  at: string;
  reason: string;
}

function problemIn(value: unknown, bigint: boolean, ancestors: object[]): Problem | null {
  // Strings and numbers are most values: answered without any allocation.
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : { at: "", reason: `is ${String(value)}, which JSON cannot hold` };
    case "bigint":
      return bigint
        ? null
        : { at: "", reason: "is a BigInt: connect with { bigint: true } to send it as an exact integer" };
    case "object":
      return value === null ? null : objectProblem(value, bigint, ancestors);
    case "undefined":
      return { at: "", reason: "is undefined, which JSON cannot hold (use null)" };
    default:
      // function, symbol
      return { at: "", reason: `is a ${typeof value}, which JSON cannot hold` };
  }
}

function objectProblem(value: object, bigint: boolean, ancestors: object[]): Problem | null {
  if (ancestors.includes(value)) {
    return { at: "", reason: "refers back to a value that contains it (a cycle), which JSON cannot hold" };
  }
  // toJSON decides what is sent (a Date becomes its ISO string).
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return null;
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) {
    return {
      at: "",
      reason: `is a ${value.constructor.name}, which JSON would write as {}: convert it first (Object.fromEntries, Array.from)`,
    };
  }
  ancestors.push(value);
  let problem: Problem | null = null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      problem = problemIn(value[i], bigint, ancestors);
      if (problem !== null) {
        problem.at = `[${i}]${problem.at}`;
        break;
      }
    }
  } else {
    for (const key of Object.keys(value)) {
      const member = (value as Record<string, unknown>)[key];
      if (member === undefined) continue; // left out, as JSON.stringify does
      problem = problemIn(member, bigint, ancestors);
      if (problem !== null) {
        problem.at = `.${key}${problem.at}`;
        break;
      }
    }
  }
  ancestors.pop();
  return problem;
}
