import { Connection } from "./connection.js";
import { StateError } from "./errors.js";
import { FunctionRegistry } from "./functions.js";
import { StateClient } from "./state.js";
import { engineUrl } from "./url.js";
import type {
  ConnectOptions,
  FunctionHandler,
  StateChangeEvent,
  StateChangeFilter,
  StateChangeOptions,
} from "./types.js";

const DEFAULT_TIMEOUT_MS = 30_000;

/** A number option: positive, or with `orZero` also 0. */
function numberOption(name: string, value: number | undefined, fallback: number, orZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (value === 0 && !orZero)) {
    const wanted = orZero ? "a number >= 0" : "a positive number";
    throw new StateError("invalid_argument", `connect: ${name} must be ${wanted}, got ${String(value)}`);
  }
  return value;
}

/** A connected statewell client. Make one with {@link connect}. */
export class Statewell {
  /** Motia's state API: set, get, list, listItems, delete, clear, listGroups, update. */
  readonly state: StateClient;
  private readonly connection: Connection;
  private readonly functions: FunctionRegistry;
  private readonly errorListeners = new Set<(error: StateError) => void>();

  /** @internal use {@link connect}. */
  constructor(options: ConnectOptions = {}) {
    this.connection = new Connection(
      {
        url: engineUrl(options.url, process.env.STATEWELL_URL),
        token: options.token ?? process.env.STATEWELL_TOKEN,
        timeoutMs: numberOption("timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS),
        connectRetryMs: numberOption("connectRetryMs", options.connectRetryMs, 0, true),
        name: options.name ?? `statewell-node-${process.pid}`,
        maxBackoffMs: numberOption("maxBackoffMs", options.maxBackoffMs, 5_000),
        pingIntervalMs: numberOption("pingIntervalMs", options.pingIntervalMs, 20_000),
        bigint: options.bigint === true,
      },
      {
        onInvoke: (message) => this.functions.handle(message),
        onError: (error) => {
          if (this.errorListeners.size === 0) {
            process.emitWarning(error.message, { code: `STATEWELL_${error.code.toUpperCase()}` });
          }
          for (const listener of this.errorListeners) listener(error);
        },
      },
    );
    this.state = new StateClient(this.connection);
    this.functions = new FunctionRegistry(this.connection);
  }

  /** @internal */
  start(): Promise<void> {
    return this.connection.start();
  }

  /** The engine address this client talks to. */
  get url(): string {
    return this.connection.options.url;
  }

  /** True while the socket is open (false while reconnecting). */
  get connected(): boolean {
    return this.connection.isOpen;
  }

  /** The worker id the engine gave this connection. */
  get workerId(): string | null {
    return this.connection.workerId;
  }

  /**
   * Serves a function that any worker can call through the engine. The
   * handler may be async; what it throws goes back to the caller as an error
   * (with the thrown error's `code` when it has one). Returns an unregister.
   */
  // `any` by default: a handler without a type for its payload (`(p) => p.id`)
  // still compiles; annotate the payload to have it checked.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  registerFunction<I = any, O = unknown>(id: string, handler: FunctionHandler<I, O>): () => void {
    return this.functions.register(id, handler as FunctionHandler);
  }

  /** Calls a function (served by any worker, or the engine's own) and waits for its result. */
  invoke<O = unknown>(functionId: string, payload: unknown = {}): Promise<O> {
    return this.connection.call(functionId, payload) as Promise<O>;
  }

  /** Calls a function without waiting: no result, no error. */
  invokeVoid(functionId: string, payload: unknown = {}): void {
    this.connection.callVoid(functionId, payload);
  }

  /**
   * Runs `handler` after every committed change of state that matches the
   * filter (a group, a group and key, or everything). With `condition`, the
   * handler runs only when the condition returns true. Returns an unsubscribe.
   */
  onStateChange<T = unknown>(
    filter: StateChangeFilter,
    handler: (event: StateChangeEvent<T>) => unknown,
    options: StateChangeOptions<T> = {},
  ): () => void {
    return this.functions.onStateChange(filter, handler, options);
  }

  /** Errors no call waits for (a trigger the engine refused, a garbled frame). */
  onError(listener: (error: StateError) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Closes the connection; calls still in flight fail with code `closed`. */
  close(): Promise<void> {
    return this.connection.close();
  }
}

/**
 * Connects to a statewell engine and resolves once the engine has accepted
 * this worker. When no engine answers, fails at once with a
 * `ConnectionError` (code `connect_failed`), or, with `connectRetryMs`, after
 * retrying (with backoff) for that long; a refused token fails at once with
 * an `AuthenticationError` (code `unauthorized`).
 */
export async function connect(options: ConnectOptions = {}): Promise<Statewell> {
  const client = new Statewell(options);
  await client.start();
  return client;
}
