/** Any JSON value. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** What `state.set` returns (Motia's `StreamSetResult`). */
export interface StreamSetResult<T> {
  new_value: T;
  old_value: T | null;
}

/**
 * A path inside a value. A string is ONE top-level field name (`"a.b"` is the
 * field called `a.b`); `""` is the whole value; an array is a nested path.
 */
export type UpdatePath = string | string[];

/** One operation of `state.update`, tagged by `type`. */
export type UpdateOp =
  | { type: "set"; path: UpdatePath; value: unknown }
  | { type: "merge"; path?: UpdatePath; value: Record<string, unknown> }
  | { type: "increment"; path: UpdatePath; by: number }
  | { type: "decrement"; path: UpdatePath; by: number }
  | { type: "append"; path?: UpdatePath; value: unknown }
  | { type: "remove"; path: UpdatePath };

/** An operation of an update that failed; the other operations still applied. */
export interface UpdateOpError {
  op_index: number;
  code: string;
  message: string;
  doc_url?: string;
}

/** What `state.update` returns. `errors` is `[]` when every op applied. */
export interface UpdateResult<T> {
  new_value: T;
  old_value: T | null;
  errors: UpdateOpError[];
}

/**
 * Conditions and an idempotency key for `set`, `update` and `delete`:
 * `ifVersion` applies the write only while the item's version is that one,
 * `ifAbsent` only while it does not exist (else a {@link ConflictError});
 * a repeat of `idempotencyKey` (at most 256 bytes) within the engine's
 * retention answers the first result and applies nothing.
 */
export interface WriteOptions {
  ifVersion?: number;
  ifAbsent?: boolean;
  idempotencyKey?: string;
}

/** An item with its version (what `ifVersion` takes). */
export interface VersionedItem<T> {
  key: string;
  value: T;
  version: number;
}

/** One op of a transaction: a write or a check, with optional conditions. */
export type TransactionOp =
  | { type: "set"; groupId: string; key: string; value: unknown; ifVersion?: number; ifAbsent?: boolean }
  | { type: "update"; groupId: string; key: string; ops: UpdateOp[]; ifVersion?: number; ifAbsent?: boolean }
  | { type: "delete"; groupId: string; key: string; ifVersion?: number; ifAbsent?: boolean }
  | { type: "check"; groupId: string; key: string; ifVersion?: number; ifAbsent?: boolean };

/**
 * Each op's result, in order: a set's or update's `old_value`/`new_value`,
 * a delete's `old_value`, and the `version` it left (a check's: the item's).
 */
export interface TransactionResult {
  results: Array<{ old_value?: unknown; new_value?: unknown; version: number | null }>;
}

export interface ListItemsOptions {
  /** Only keys starting with this prefix. */
  prefix?: string;
  /** Only keys strictly after this one: pass the previous page's `next`. */
  after?: string;
  /** Page size (the engine caps it, 1000 by default). */
  limit?: number;
}

export interface StateItem<T> {
  key: string;
  value: T;
  version: number;
}

export interface ListItemsPage<T> {
  items: StateItem<T>[];
  /** Cursor for the next page (pass as `after`), or `null` on the last page. */
  next: string | null;
}

export interface ConnectOptions {
  /**
   * Engine address: `ws://`, `wss://`, or `http://`/`https://` (taken as
   * `ws://`/`wss://`). Default: `STATEWELL_URL` when set, else `ws://127.0.0.1:49134`.
   */
  url?: string;
  /** Sent as `Authorization: Bearer <token>`. Default: `STATEWELL_TOKEN`. */
  token?: string;
  /** How long a call waits for its answer (and one connect attempt for its handshake). Default 30 000 ms. */
  timeoutMs?: number;
  /**
   * How long `connect` keeps retrying (with backoff) while no engine answers,
   * before failing with `connect_failed`. Default 0: one attempt, failing at
   * once, so a wrong address is reported right away. Give it a budget when
   * the engine may still be starting (e.g. `connectRetryMs: 10_000`).
   */
  connectRetryMs?: number;
  /** Name this worker reports to the engine. */
  name?: string;
  /** Longest wait between reconnect attempts. Default 5 000 ms. */
  maxBackoffMs?: number;
  /** Interval of WebSocket pings; the link is dropped after 3 silent intervals. Default 20 000 ms. */
  pingIntervalMs?: number;
  /**
   * Read integers beyond ±2^53 exactly, as `BigInt`, and send `BigInt` values
   * as exact integers. The engine keeps integers exactly (up to 2^64-1 and
   * down to -2^63); without this option they arrive as rounded doubles, like
   * any JSON in JavaScript. Default false.
   */
  bigint?: boolean;
}

/** The event a state trigger delivers (exactly the engine's payload). */
export interface StateChangeEvent<T = unknown> {
  type: "state";
  event_type: "state:created" | "state:updated" | "state:deleted";
  scope: string;
  key: string;
  old_value: T | null;
  new_value: T | null;
}

/** Filter of `onStateChange`: nothing means every change. */
export interface StateChangeFilter {
  groupId?: string;
  key?: string;
}

export interface StateChangeOptions<T = unknown> {
  /** Called first; the handler runs only when it returns true. */
  condition?: (event: StateChangeEvent<T>) => boolean | Promise<boolean>;
}

/** A function this worker serves to the others. */
// `any` by default: see `Statewell.registerFunction`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FunctionHandler<I = any, O = unknown> = (payload: I) => O | Promise<O>;
