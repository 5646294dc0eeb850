// JSON without loss. The browser's JSON.parse turns every number into a
// double, so an integer above 2^53 would be shown wrong and, once edited,
// saved wrong. This parser keeps each number's text (JsonNumber) and each
// object's key order (JsonObject), and `stringify` writes them back as they
// came. `renderTree` shows a value as collapsible text nodes.

import { h } from "./dom.js";

export class JsonNumber {
  constructor(text) {
    this.text = text;
  }
}

export class JsonObject {
  constructor(entries) {
    /** [key, value] pairs, in the order the engine sent them. */
    this.entries = entries;
  }

  get(key) {
    const found = this.entries.find(([k]) => k === key);
    return found ? found[1] : undefined;
  }
}

export class JsonSyntaxError extends Error {
  constructor(message, position) {
    super(`${message} at position ${position}`);
    this.position = position;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/** Parses JSON text, keeping numbers as text and keys in order. */
export function parse(text) {
  let at = 0;
  const skip = () => {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(text);
    at = WHITESPACE.lastIndex;
  };
  const fail = (what) => {
    throw new JsonSyntaxError(what, at);
  };
  const string = () => {
    let end = at + 1;
    for (;;) {
      const c = text.charCodeAt(end);
      if (Number.isNaN(c)) fail("unterminated string");
      if (c === 0x22) break;
      if (c === 0x5c) end += 2;
      else if (c < 0x20) fail("control character in string");
      else end += 1;
    }
    let value;
    try {
      value = JSON.parse(text.slice(at, end + 1));
    } catch {
      fail("bad escape in string");
    }
    at = end + 1;
    return value;
  };
  const value = (depth) => {
    if (depth > 512) fail("nesting too deep");
    skip();
    const c = text[at];
    if (c === "{") {
      at += 1;
      const entries = [];
      skip();
      if (text[at] === "}") {
        at += 1;
        return new JsonObject(entries);
      }
      for (;;) {
        skip();
        if (text[at] !== '"') fail("expected a key");
        const key = string();
        skip();
        if (text[at] !== ":") fail("expected ':'");
        at += 1;
        entries.push([key, value(depth + 1)]);
        skip();
        if (text[at] === ",") at += 1;
        else if (text[at] === "}") {
          at += 1;
          return new JsonObject(entries);
        } else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      at += 1;
      const items = [];
      skip();
      if (text[at] === "]") {
        at += 1;
        return items;
      }
      for (;;) {
        items.push(value(depth + 1));
        skip();
        if (text[at] === ",") at += 1;
        else if (text[at] === "]") {
          at += 1;
          return items;
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, result] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return result;
      }
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (number) {
      at = NUMBER.lastIndex;
      return new JsonNumber(number[0]);
    }
    return fail(c === undefined ? "unexpected end of text" : `unexpected '${c}'`);
  };
  const result = value(0);
  skip();
  if (at !== text.length) fail("unexpected text after the value");
  return result;
}

/** Writes a parsed value back as JSON text; `indent` > 0 pretty-prints. */
export function stringify(node, indent = 0) {
  const out = [];
  const write = (v, depth) => {
    const pad = indent ? "\n" + " ".repeat(indent * (depth + 1)) : "";
    const end = indent ? "\n" + " ".repeat(indent * depth) : "";
    if (v === null) out.push("null");
    else if (v === true || v === false) out.push(String(v));
    else if (typeof v === "string") out.push(JSON.stringify(v));
    else if (v instanceof JsonNumber) out.push(v.text);
    else if (typeof v === "number") out.push(JSON.stringify(v));
    else if (Array.isArray(v)) {
      if (v.length === 0) return out.push("[]");
      out.push("[");
      v.forEach((item, i) => {
        if (i) out.push(",");
        out.push(pad);
        write(item, depth + 1);
      });
      out.push(end, "]");
    } else if (v instanceof JsonObject) {
      if (v.entries.length === 0) return out.push("{}");
      out.push("{");
      v.entries.forEach(([k, item], i) => {
        if (i) out.push(",");
        out.push(pad, JSON.stringify(k), indent ? ": " : ":");
        write(item, depth + 1);
      });
      out.push(end, "}");
    }
  };
  write(node, 0);
  return out.join("");
}

/** One line of at most `max` characters. */
export function preview(node, max = 140) {
  const text = stringify(node);
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/** UTF-8 length of the compact form: the size the engine stores. */
export function size(node) {
  return new TextEncoder().encode(stringify(node)).length;
}

/** Children shown at once; the rest behind a button. */
const CHUNK = 200;

/**
 * A collapsible view of a value: objects and arrays are <details> elements
 * (keyboard-operable), their children built only when first opened, so a
 * large value costs nothing until it is looked at.
 */
export function renderTree(node) {
  return h("div", { class: "json-tree" }, renderNode(node, null, 0));
}

function leaf(v) {
  if (v === null) return h("span", { class: "j-null" }, "null");
  if (v === true || v === false) return h("span", { class: "j-bool" }, String(v));
  if (v instanceof JsonNumber) return h("span", { class: "j-num" }, v.text);
  return h("span", { class: "j-str" }, JSON.stringify(v));
}

function label(key) {
  if (key === null) return null;
  const text = typeof key === "number" ? String(key) : JSON.stringify(key);
  return [h("span", { class: typeof key === "number" ? "j-index" : "j-key" }, text), ": "];
}

function renderNode(v, key, depth) {
  const isArray = Array.isArray(v);
  if (!isArray && !(v instanceof JsonObject)) {
    return h("div", { class: "j-row" }, label(key), leaf(v));
  }
  const children = isArray ? v.map((item, i) => [i, item]) : v.entries;
  const [open, close] = isArray ? ["[", "]"] : ["{", "}"];
  if (children.length === 0) {
    return h("div", { class: "j-row" }, label(key), h("span", { class: "j-punct" }, open + close));
  }
  const summaryText = isArray
    ? `${children.length} item${children.length === 1 ? "" : "s"}`
    : `${children.length} key${children.length === 1 ? "" : "s"}`;
  const details = h(
    "details",
    { class: "j-node", open: depth < 2 },
    h(
      "summary",
      {},
      label(key),
      h("span", { class: "j-punct" }, open),
      h("span", { class: "j-summary" }, ` ${summaryText} `),
      h("span", { class: "j-punct j-close-inline" }, close),
    ),
  );
  const body = h("div", { class: "j-children" });
  let shown = 0;
  const more = () => {
    const next = children.slice(shown, shown + CHUNK);
    shown += next.length;
    body.querySelector(":scope > .j-more")?.remove();
    for (const [k, item] of next) body.append(renderNode(item, k, depth + 1));
    if (shown < children.length) {
      body.append(
        h(
          "button",
          { type: "button", class: "j-more link", onclick: more },
          `show ${Math.min(CHUNK, children.length - shown)} more of ${children.length - shown}`,
        ),
      );
    }
  };
  const build = () => {
    if (shown === 0) more();
  };
  if (details.open) build();
  details.addEventListener("toggle", build);
  details.append(body, h("div", { class: "j-punct j-close" }, close));
  return details;
}
