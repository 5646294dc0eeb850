import { randomUUID } from "node:crypto";
import type { Connection, IncomingInvocation } from "./connection.js";
import { jsonProblem } from "./json.js";
import type {
  FunctionHandler,
  StateChangeEvent,
  StateChangeFilter,
  StateChangeOptions,
} from "./types.js";

/**
 * The error sent back when a handler throws: its `code` if it has a string
 * one, else `invocation_failed` (what the published iii clients send).
 */
function errorPayload(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === "string" ? code : "invocation_failed", message: error.message };
  }
  return { code: "invocation_failed", message: String(error) };
}

/**
 * Functions this worker serves, and state triggers bound to them. Both are
 * registrations kept by the connection, so they are sent again after every
 * reconnect (the engine forgets a worker's functions when its socket closes).
 */
export class FunctionRegistry {
  private readonly handlers = new Map<string, FunctionHandler>();

  constructor(private readonly connection: Connection) {}

  register(id: string, handler: FunctionHandler): () => void {
    if (typeof id !== "string" || id === "") throw new TypeError("registerFunction: id must be a non-empty string");
    if (typeof handler !== "function") throw new TypeError("registerFunction: handler must be a function");
    this.handlers.set(id, handler);
    this.connection.addRegistration(`function:${id}`, { type: "registerfunction", id });
    return () => this.unregister(id, handler);
  }

  private unregister(id: string, handler: FunctionHandler): void {
    // A later registerFunction of the same id replaced this one: leave it.
    if (this.handlers.get(id) !== handler) return;
    this.handlers.delete(id);
    this.connection.removeRegistration(`function:${id}`, { type: "unregisterfunction", id });
  }

  onStateChange<T>(
    filter: StateChangeFilter,
    handler: (event: StateChangeEvent<T>) => unknown,
    options: StateChangeOptions<T> = {},
  ): () => void {
    const triggerId = randomUUID();
    const functionId = `statewell::on_state_change::${triggerId}`;
    const unregisterHandler = this.register(functionId, handler as FunctionHandler);
    let unregisterCondition: (() => void) | null = null;
    const config: Record<string, string> = {};
    if (filter.groupId !== undefined) config.scope = filter.groupId;
    if (filter.key !== undefined) config.key = filter.key;
    if (options.condition !== undefined) {
      const conditionId = `${functionId}::condition`;
      unregisterCondition = this.register(conditionId, options.condition as FunctionHandler);
      config.condition_function_id = conditionId;
    }
    this.connection.addRegistration(`trigger:${triggerId}`, {
      type: "registertrigger",
      id: triggerId,
      trigger_type: "state",
      function_id: functionId,
      config,
    });
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.connection.removeRegistration(`trigger:${triggerId}`, { type: "unregistertrigger", id: triggerId });
      unregisterHandler();
      unregisterCondition?.();
    };
  }

  /** Runs the handler of an engine's `invokefunction` and answers unless it was void. */
  handle(message: IncomingInvocation): void {
    const id = message.invocation_id ?? "";
    const wantsAnswer = id !== "" && message.action?.type !== "void";
    const handler = this.handlers.get(message.function_id);
    if (handler === undefined) {
      if (wantsAnswer) {
        this.connection.sendRaw({
          type: "invocationresult",
          invocation_id: id,
          function_id: message.function_id,
          error: {
            code: "function_not_found",
            message: `Function ${message.function_id} is not registered by this worker.`,
          },
        });
      }
      return;
    }
    // Handlers may be sync or async; a throw either way becomes a function error.
    new Promise((resolve) => resolve(handler(message.data))).then(
      (result) => {
        if (wantsAnswer) this.reply(id, message.function_id, { result });
      },
      (error: unknown) => {
        if (wantsAnswer) this.reply(id, message.function_id, { error: errorPayload(error) });
      },
    );
  }

  private reply(invocationId: string, functionId: string, outcome: { result?: unknown; error?: unknown }): void {
    // A result JSON cannot hold (a function, a cycle, a BigInt without the
    // bigint option...) still gets an answer, so the caller never waits in
    // vain; `undefined` alone is "no result".
    let problem =
      outcome.result === undefined ? null : jsonProblem(outcome.result, this.connection.options.bigint, "result");
    if (problem === null) {
      try {
        this.connection.sendRaw({ type: "invocationresult", invocation_id: invocationId, function_id: functionId, ...outcome });
        return;
      } catch (error) {
        problem = `the result is not JSON-serialisable: ${(error as Error).message}`;
      }
    }
    this.connection.sendRaw({
      type: "invocationresult",
      invocation_id: invocationId,
      function_id: functionId,
      error: { code: "invocation_failed", message: problem },
    });
  }
}
