// The engine's HTTP API (docs/HTTP.md), as the console uses it. Every call
// carries the token from sessionStorage (kept for this browser tab's session
// only); a 401 asks for the token and tries again, so nothing is shown until
// the engine accepted it.

import { h, modal } from "./dom.js";
import { JsonObject, parse } from "./json-view.js";

const TOKEN_KEY = "statewell.token";

export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let prompting = null;

/** Asks for the token once, however many calls were refused meanwhile. */
export function needToken() {
  if (!prompting) {
    const refused = sessionStorage.getItem(TOKEN_KEY) !== null;
    prompting = askToken(refused).finally(() => {
      prompting = null;
    });
  }
  return prompting;
}

async function askToken(refused) {
  const input = h("input", {
    type: "password",
    id: "token-input",
    name: "token",
    autocomplete: "off",
    required: true,
    "aria-describedby": "token-help",
  });
  const error = h("p", { class: "field-error", role: "alert" });
  await modal({
    title: "This engine needs a token",
    cancellable: false,
    body: [
      h(
        "p",
        { id: "token-help" },
        refused
          ? "The token was refused. Enter the token the engine was started with (--token)."
          : "The engine was started with --token. Enter it to see and change its state. It is kept for this browser tab only.",
      ),
      h("label", { for: "token-input" }, "Token"),
      input,
      error,
    ],
    buttons: [{ label: "Continue", value: "ok", kind: "primary", submit: true }],
    onSubmit: () => {
      if (!input.value.trim()) {
        error.textContent = "Enter the token.";
        return false;
      }
      return true;
    },
  });
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
}

/** An error answer of the API: `{"error":{"code","message",...}}`. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** An error as the console shows it: the engine's message and its code. */
export function describe(error) {
  return error instanceof ApiError ? `${error.message} (${error.code})` : error.message;
}

function toError(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      return new ApiError(status, body.error.code ?? "error", body.error.message ?? text, body.error);
    }
  } catch {
    // Not the API's error shape: fall through.
  }
  return new ApiError(status, "http_error", `the engine answered ${status}`);
}

/**
 * One API call. `body` is sent as it is (a string of JSON); the answer's
 * text is parsed without loss (`json`) and its version read from `ETag`.
 * Throws ApiError for an error status.
 */
export async function call(method, path, { body, headers = {}, signal } = {}) {
  for (;;) {
    const response = await fetch(path, {
      method,
      headers: {
        ...authHeaders(),
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body,
      signal,
      cache: "no-store",
    });
    const text = await response.text();
    if (response.status === 401) {
      await needToken();
      continue;
    }
    if (!response.ok) throw toError(response.status, text);
    const etag = response.headers.get("ETag");
    return {
      status: response.status,
      text,
      version: etag ? Number(etag.replaceAll('"', "")) : null,
      json: () => parse(text),
    };
  }
}

/** Plain text (for /metrics). */
export async function text(path) {
  return (await call("GET", path)).text;
}

const enc = encodeURIComponent;

export const paths = {
  groups: () => "/v1/groups",
  group: (group) => `/v1/groups/${enc(group)}`,
  items(group, { prefix, after, limit } = {}) {
    const query = new URLSearchParams();
    if (prefix) query.set("prefix", prefix);
    if (after !== null && after !== undefined) query.set("after", after);
    if (limit) query.set("limit", String(limit));
    const qs = query.toString();
    return `/v1/groups/${enc(group)}/items${qs ? `?${qs}` : ""}`;
  },
  item: (group, key) => `/v1/groups/${enc(group)}/items/${enc(key)}`,
  watchGroup: (group) => `/v1/groups/${enc(group)}/watch`,
  watchAll: () => "/v1/watch",
  workers: () => "/v1/workers",
  metrics: () => "/metrics",
};

/** The console's own addresses (what the browser's address bar shows). */
export const links = {
  groups: () => "/ui/groups",
  group: (group, prefix) =>
    `/ui/groups/${enc(group)}${prefix ? `?prefix=${enc(prefix)}` : ""}`,
  item: (group, key) => `/ui/groups/${enc(group)}/items/${enc(key)}`,
  engine: () => "/ui/engine",
};

/** A field of a parsed object (plain value, JsonNumber, or a JsonObject). */
export function field(node, name) {
  return node instanceof JsonObject ? node.get(name) : undefined;
}

/** A JsonNumber or number as a JS number (for counts and versions). */
export function num(node) {
  if (node === undefined || node === null) return null;
  return typeof node === "number" ? node : Number(node.text);
}

/** One page of items: [{key, value, version, expires_at?}], next. */
export async function listItems(group, options) {
  const page = (await call("GET", paths.items(group, options))).json();
  const items = (field(page, "items") ?? []).map((item) => ({
    key: field(item, "key"),
    value: field(item, "value"),
    version: num(field(item, "version")),
    expiresAt: field(item, "expires_at") ?? null,
  }));
  return { items, next: field(page, "next") ?? null };
}

/** One item with its version and (once the engine has expiry) its expiry, or null. */
export async function getItem(group, key) {
  // The smallest key with `key` as its prefix is `key` itself: the first
  // item of this listing is the item, with its version and expiry.
  const { items } = await listItems(group, { prefix: key, limit: 1 });
  return items.length && items[0].key === key ? items[0] : null;
}
