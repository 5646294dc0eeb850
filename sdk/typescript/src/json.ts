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
