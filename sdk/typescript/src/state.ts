import type { Connection } from "./connection.js";
import { StateError } from "./errors.js";
import type {
  ListItemsOptions,
  ListItemsPage,
  StreamSetResult,
  TransactionOp,
  TransactionResult,
  UpdateOp,
  UpdateResult,
  VersionedItem,
  WriteOptions,
} from "./types.js";

/** Adds the wire fields of `options` to `payload` (none when there are none). */
function withOptions(payload: Record<string, unknown>, options: WriteOptions | undefined): Record<string, unknown> {
  if (options === undefined) return payload;
  if (options.ifVersion !== undefined) payload.if_version = options.ifVersion;
  if (options.ifAbsent !== undefined) payload.if_absent = options.ifAbsent;
  if (options.idempotencyKey !== undefined) payload.idempotency_key = options.idempotencyKey;
  return payload;
}

/** A transaction op in the wire's form. */
function wireOp(op: TransactionOp): Record<string, unknown> {
  const { groupId, ifVersion, ifAbsent, ...rest } = op;
  const wire: Record<string, unknown> = { ...rest, scope: groupId };
  if (ifVersion !== undefined) wire.if_version = ifVersion;
  if (ifAbsent !== undefined) wire.if_absent = ifAbsent;
  return wire;
}

/** `undefined` (the engine omitted `result`) becomes `null`, as Motia's state API promises. */
function orNull<T>(value: unknown): T | null {
  return value === undefined ? null : (value as T);
}

/**
 * A reply as these methods read it: fields of unknown type, any of which may
 * be missing. Only a type: a reply is never copied or checked field by field
 * (a reply that is not an object reads as one with no fields).
 */
type Reply = Partial<Record<string, unknown>> | null | undefined;

// Module-level continuations: the hot path allocates no closure per call.
function toSetResult(reply: unknown): StreamSetResult<unknown> {
  const result = reply as Reply;
  return { new_value: result?.new_value, old_value: orNull(result?.old_value) };
}

/**
 * `sw.state`: Motia's state API. Groups (`groupId`) hold items by `key`;
 * values are any JSON. Each method is one call of the engine's `state::*`
 * function; argument checking is the engine's, so every language gets the
 * same errors.
 */
export class StateClient {
  constructor(private readonly connection: Connection) {}

  /**
   * Stores `value`; returns the new and the previous value (`null` when new).
   * A value JSON cannot hold (undefined, a function, a cycle...) is refused
   * with `invalid_argument` before anything is sent.
   */
  set<T = unknown>(groupId: string, key: string, value: T, options?: WriteOptions): Promise<StreamSetResult<T>> {
    if (value === undefined) {
      // As a property of the payload it would just be left out.
      return Promise.reject(
        new StateError("invalid_argument", "state::set: the value is undefined, which JSON cannot hold (use null)", {
          functionId: "state::set",
        }),
      );
    }
    const payload = withOptions({ scope: groupId, key, value }, options);
    return this.connection.call("state::set", payload).then(toSetResult) as Promise<
      StreamSetResult<T>
    >;
  }

  /** The value, or `null` when there is no such item. */
  get<T = unknown>(groupId: string, key: string): Promise<T | null> {
    return this.connection.call("state::get", { scope: groupId, key }).then(orNull) as Promise<T | null>;
  }

  /** The item with its version (for `ifVersion`), or `null` when there is none. */
  getItem<T = unknown>(groupId: string, key: string): Promise<VersionedItem<T> | null> {
    return this.connection.call("state::get_item", { scope: groupId, key }).then(orNull) as Promise<
      VersionedItem<T> | null
    >;
  }

  /**
   * Applies up to 1,000 writes and checks all or nothing: when a condition
   * fails nothing is applied and a {@link ConflictError} names the op
   * (`opIndex`); an update op that fails fails the whole (`update_failed`).
   */
  async transaction(ops: readonly TransactionOp[], options: { idempotencyKey?: string } = {}): Promise<TransactionResult> {
    const payload = withOptions({ ops: ops.map(wireOp) }, options);
    const result = (await this.connection.call("state::transaction", payload)) as Reply;
    return { results: (result?.results ?? []) as TransactionResult["results"] };
  }

  /** Every value of the group, in key order (`[]` for an unknown group). */
  async list<T = unknown>(groupId: string): Promise<T[]> {
    return ((await this.connection.call("state::list", { scope: groupId })) ?? []) as T[];
  }

  /** One page of items with their keys; pass `next` as `after` for the following page. */
  async listItems<T = unknown>(groupId: string, options: ListItemsOptions = {}): Promise<ListItemsPage<T>> {
    const payload: Record<string, unknown> = { scope: groupId };
    if (options.prefix !== undefined) payload.prefix = options.prefix;
    if (options.after !== undefined) payload.after = options.after;
    if (options.limit !== undefined) payload.limit = options.limit;
    const result = (await this.connection.call("state::list_items", payload)) as Reply;
    return {
      items: (result?.items ?? []) as ListItemsPage<T>["items"],
      next: (result?.next ?? null) as string | null,
    };
  }

  /** Every item of the group, page after page. */
  async *iterateItems<T = unknown>(
    groupId: string,
    options: Omit<ListItemsOptions, "after"> = {},
  ): AsyncGenerator<{ key: string; value: T; version: number }> {
    let after: string | undefined;
    for (;;) {
      const page = await this.listItems<T>(groupId, { ...options, after });
      yield* page.items;
      if (page.next === null) return;
      after = page.next;
    }
  }

  /** Removes the item; returns the value it had, or `null` when there was none. */
  async delete<T = unknown>(groupId: string, key: string, options?: WriteOptions): Promise<T | null> {
    return orNull<T>(await this.connection.call("state::delete", withOptions({ scope: groupId, key }, options)));
  }

  /** Removes every item of the group; returns how many were removed. */
  async clear(groupId: string, options: { idempotencyKey?: string } = {}): Promise<number> {
    const payload = withOptions({ scope: groupId }, options);
    const result = (await this.connection.call("state::clear", payload)) as Reply;
    return typeof result?.deleted === "number" ? result.deleted : 0;
  }

  /** The names of every group that holds at least one item, sorted. */
  async listGroups(): Promise<string[]> {
    const result = (await this.connection.call("state::list_groups", {})) as Reply;
    return (result?.groups ?? []) as string[];
  }

  /**
   * Applies `ops` (one op, or a list of them) in order, atomically with
   * respect to every other call on this item (a missing item starts from
   * `{}`). An op that fails is skipped and reported in `errors`; the others
   * still apply.
   */
  async update<T = unknown>(
    groupId: string,
    key: string,
    ops: UpdateOp | readonly UpdateOp[],
    options?: WriteOptions,
  ): Promise<UpdateResult<T>> {
    const list = Array.isArray(ops) ? ops : [ops];
    const payload = withOptions({ scope: groupId, key, ops: list }, options);
    const result = (await this.connection.call("state::update", payload)) as Reply;
    return {
      new_value: result?.new_value as T,
      old_value: orNull<T>(result?.old_value),
      errors: (result?.errors ?? []) as UpdateResult<T>["errors"],
    };
  }
}
