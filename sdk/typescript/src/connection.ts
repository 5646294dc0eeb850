import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { AuthenticationError, ConnectionError, errorForCode, StateError, TimeoutError } from "./errors.js";
import { jsonProblem, parseLossless, stringifyLossless } from "./json.js";

/** A call waiting for its `invocationresult`. */
interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  functionId: string;
  /** `performance.now()` after which the call fails. */
  deadline: number;
  /** True once the frame went out on a socket (then a drop means "maybe applied"). */
  sent: boolean;
}

/** A frame waiting for the socket to (re)open; `id` is null for void frames. */
interface Queued {
  id: string | null;
  frame: string;
}

/** An `invokefunction` the engine sends us (a call of a function we serve). */
export interface IncomingInvocation {
  invocation_id?: string;
  function_id: string;
  data?: unknown;
  action?: { type?: string };
}

/**
 * A frame from the engine as `onMessage` reads it: the fields it looks at,
 * each of unknown type (the engine's frames are checked where they are used,
 * not copied into a typed object first).
 */
interface IncomingFrame {
  type?: unknown;
  invocation_id?: unknown;
  result?: unknown;
  error?: unknown;
  worker_id?: unknown;
  reattach_token?: unknown;
  id?: unknown;
  trigger_type?: unknown;
  function_id?: unknown;
}

/** The fields of an error the engine sends, each of unknown type. */
interface ErrorFields {
  code?: unknown;
  message?: unknown;
}

export interface ConnectionOptions {
  url: string;
  token: string | undefined;
  timeoutMs: number;
  /** How long the first connection is retried (with backoff) before `connect_failed`; 0: one attempt. */
  connectRetryMs: number;
  name: string;
  maxBackoffMs: number;
  pingIntervalMs: number;
  /** Exact integers beyond ±2^53, as BigInt (slower JSON on texts with long digit runs). */
  bigint: boolean;
}

export interface ConnectionHooks {
  /** The engine calls one of our functions. */
  onInvoke: (message: IncomingInvocation) => void;
  /** Something went wrong that no call is waiting for (e.g. a trigger refused). */
  onError: (error: StateError) => void;
}

const REGISTER_WORKER = "engine::workers::register";
const FIRST_BACKOFF_MS = 100;

// Frames are built by string concatenation around one JSON.stringify of the
// payload: the hot path allocates the frame and nothing else of note.
const framePrefixes = new Map<string, string>();
function invokePrefix(functionId: string): string {
  let prefix = framePrefixes.get(functionId);
  if (prefix === undefined) {
    prefix = `","function_id":${JSON.stringify(functionId)},"data":`;
    framePrefixes.set(functionId, prefix);
  }
  return prefix;
}

/** The payload as JSON text; a value JSON cannot hold is refused (see `jsonProblem`). */
function encodePayload(functionId: string, payload: unknown, bigint: boolean): string {
  const problem = jsonProblem(payload, bigint, "");
  if (problem !== null) {
    throw new StateError("invalid_argument", `${functionId}: ${problem}`, { functionId });
  }
  try {
    // Never undefined: jsonProblem refused every value it would be for.
    return (bigint ? stringifyLossless(payload) : JSON.stringify(payload)) as string;
  } catch (error) {
    // A toJSON that throws, say.
    throw new StateError("invalid_argument", `${functionId}: the payload is not JSON-serialisable: ${(error as Error).message}`, {
      functionId,
      cause: error,
    });
  }
}

/**
 * One WebSocket to the engine, shared by every call. Many calls are in flight
 * at once, matched to their answers by `invocation_id`. One sweeping timer
 * (not one timer per call) enforces timeouts and sends heartbeats. When the
 * socket drops, calls in flight fail with `connection_lost`, and the
 * connection comes back by itself with exponential backoff; calls made while
 * it is down wait for it (up to their timeout).
 */
export class Connection {
  readonly options: ConnectionOptions;
  /** The id the engine gave this worker on the current socket. */
  workerId: string | null = null;
  /** Lets a new socket claim the previous one's identity (sent as `reattach`). */
  private reattachToken: string | null = null;

  private readonly hooks: ConnectionHooks;
  private ws: WebSocket | null = null;
  private open = false;
  private closed = false;
  private readonly pending = new Map<string, Pending>();
  private queue: Queued[] = [];
  /** Frames re-sent on every (re)connect: function and trigger registrations. */
  private readonly registrations = new Map<string, string>();
  private readonly sweeper: NodeJS.Timeout;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private lastSeen = performance.now();
  private lastPing = performance.now();
  private lastError = "not connected yet";
  /** Set while `start` waits: the first connection, and when to stop retrying it. */
  private firstConnect: { resolve: () => void; reject: (e: Error) => void; giveUpAt: number } | null = null;
  private closeWaiters: Array<() => void> = [];
  private corked = false;

  constructor(options: ConnectionOptions, hooks: ConnectionHooks) {
    this.options = options;
    this.hooks = hooks;
    const tick = Math.max(5, Math.min(1000, Math.floor(options.timeoutMs / 10)));
    this.sweeper = setInterval(() => this.sweep(), tick);
    // The sweeper alone must not keep a process alive; sockets and reconnects do.
    this.sweeper.unref();
  }

  /**
   * Opens the first socket; resolves once the engine has registered us. A
   * failed attempt fails at once with `connect_failed`, unless
   * `connectRetryMs` leaves time for another (then it retries with backoff).
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const giveUpAt = performance.now() + this.options.connectRetryMs;
      this.firstConnect = { resolve, reject, giveUpAt };
      this.dial();
      // Each attempt's handshake is bounded by timeoutMs; this also bounds a
      // peer that accepts the socket but never registers us.
      const timer = setTimeout(
        () => this.failFirstConnect(new ConnectionError("connect_failed", this.connectFailure("no answer in time"))),
        this.options.connectRetryMs + this.options.timeoutMs,
      );
      timer.unref();
    });
  }

  private connectFailure(reason: string): string {
    const retried = this.options.connectRetryMs > 0 ? ` (retried for ${this.options.connectRetryMs} ms)` : "";
    return `could not connect to ${this.options.url}${retried}: ${reason}`;
  }

  /** Ends a pending `start` with `error`, for good: no reconnect follows. */
  private failFirstConnect(error: Error): void {
    const first = this.firstConnect;
    if (first === null) return;
    this.firstConnect = null;
    void this.close();
    first.reject(error);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Invokes a function and waits for its result (`undefined` when the engine omitted it). */
  call(functionId: string, payload: unknown): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new ConnectionError("closed", `${functionId}: the client is closed`, { functionId }));
    }
    let data: string;
    try {
      data = encodePayload(functionId, payload, this.options.bigint);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const id = randomUUID();
    const frame = `{"type":"invokefunction","invocation_id":"${id}${invokePrefix(functionId)}${data}}`;
    return new Promise((resolve, reject) => {
      const entry: Pending = {
        resolve,
        reject,
        functionId,
        deadline: performance.now() + this.options.timeoutMs,
        sent: false,
      };
      this.pending.set(id, entry);
      if (this.open) {
        entry.sent = true;
        this.sendNow(frame);
      } else {
        this.queue.push({ id, frame });
      }
    });
  }

  /** Invokes a function without waiting for (or getting) any answer. */
  callVoid(functionId: string, payload: unknown): void {
    if (this.closed) {
      throw new ConnectionError("closed", `${functionId}: the client is closed`, { functionId });
    }
    const data = encodePayload(functionId, payload, this.options.bigint);
    const frame = `{"type":"invokefunction","function_id":${JSON.stringify(functionId)},"data":${data},"action":{"type":"void"}}`;
    this.sendOrQueue(null, frame);
  }

  /** Sends a frame that is not a call (e.g. an answer to the engine). Dropped when down. */
  sendRaw(message: object): void {
    if (this.open) this.sendNow(this.encode(message));
  }

  private encode(message: object): string {
    return (this.options.bigint ? stringifyLossless(message) : JSON.stringify(message)) ?? "null";
  }

  /** Keeps a registration frame: sent now if connected, and again after every reconnect. */
  addRegistration(key: string, message: object): void {
    const frame = JSON.stringify(message);
    this.registrations.set(key, frame);
    if (this.open) this.ws!.send(frame);
  }

  /** Forgets a registration and sends its undo frame (when connected: a new socket has none). */
  removeRegistration(key: string, undo: object): void {
    if (this.registrations.delete(key) && this.open) this.ws!.send(JSON.stringify(undo));
  }

  /** Closes for good: calls in flight fail with `closed`, no reconnect. */
  close(): Promise<void> {
    if (this.closed) {
      return this.ws === null ? Promise.resolve() : new Promise((r) => this.closeWaiters.push(r));
    }
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.failAll(
      (p) => new ConnectionError("closed", `${p.functionId}: the client was closed`, { functionId: p.functionId }),
      true,
    );
    this.queue = [];
    const ws = this.ws;
    if (ws === null) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      // A peer that never answers the close handshake must not hold us.
      const force = setTimeout(() => ws.terminate(), 1000);
      force.unref();
      ws.close(1000);
    });
  }

  /**
   * Sends on the open socket. Calls issued in the same tick (a Promise.all)
   * are corked together so they leave in one write instead of one syscall each.
   */
  private sendNow(frame: string): void {
    if (!this.corked) {
      const socket = (this.ws as unknown as { _socket?: import("node:net").Socket })._socket;
      if (socket !== undefined) {
        this.corked = true;
        socket.cork();
        process.nextTick(this.uncork, this, socket);
      }
    }
    this.ws!.send(frame);
  }

  private uncork(this: void, self: Connection, socket: import("node:net").Socket): void {
    self.corked = false;
    socket.uncork();
  }

  private sendOrQueue(id: string | null, frame: string): void {
    if (this.open) this.sendNow(frame);
    else this.queue.push({ id, frame });
  }

  private dial(): void {
    this.reconnectTimer = null;
    const headers: Record<string, string> = {};
    if (this.options.token !== undefined && this.options.token !== "") {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    // Set when the engine answered the upgrade with an HTTP error: the
    // socket error that follows must not hide that reason.
    let refusal: string | null = null;
    const ws = new WebSocket(this.options.url, {
      headers,
      perMessageDeflate: false,
      handshakeTimeout: this.options.timeoutMs,
      // The engine only sends JSON it produced itself; JSON.parse checks it anyway.
      skipUTF8Validation: true,
    });
    this.ws = ws;
    ws.on("open", () => this.onOpen(ws));
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on("pong", () => {
      this.lastSeen = performance.now();
    });
    ws.on("ping", () => {
      this.lastSeen = performance.now();
    });
    ws.on("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0;
      if (status === 401 || status === 403) {
        refusal = `the engine refused the token (HTTP ${status}): wrong or missing token`;
        // Retrying cannot fix a token: the first connect fails at once.
        this.failFirstConnect(new AuthenticationError(`could not connect to ${this.options.url}: ${refusal}`));
      } else {
        refusal = `unexpected HTTP ${status} on the WebSocket upgrade (is this a statewell engine?)`;
      }
      this.lastError = refusal;
      res.resume();
      ws.terminate();
    });
    ws.on("error", (error: Error) => {
      this.lastError = refusal ?? error.message;
    });
    ws.on("close", () => this.onClose(ws));
  }

  private onOpen(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.open = true;
    this.attempt = 0;
    this.lastSeen = performance.now();
    this.lastPing = this.lastSeen;
    // Like the published clients: claim the previous identity first, so an
    // engine that kept our triggers' events during the gap can hand them over.
    if (this.workerId !== null && this.reattachToken !== null) {
      ws.send(
        JSON.stringify({ type: "reattach", previous_worker_id: this.workerId, reattach_token: this.reattachToken }),
      );
    }
    ws.send(
      JSON.stringify({
        type: "invokefunction",
        function_id: REGISTER_WORKER,
        data: {
          runtime: "node",
          version: process.version,
          name: this.options.name,
          os: process.platform,
          pid: process.pid,
          telemetry: { sdk: "statewell" },
        },
        action: { type: "void" },
      }),
    );
    for (const frame of this.registrations.values()) ws.send(frame);
    const queue = this.queue;
    this.queue = [];
    for (const item of queue) {
      if (item.id === null) {
        ws.send(item.frame);
        continue;
      }
      const entry = this.pending.get(item.id);
      if (entry === undefined) continue; // timed out while waiting for the socket
      entry.sent = true;
      ws.send(item.frame);
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.lastSeen = performance.now();
    if (isBinary) return;
    let parsed: unknown;
    try {
      const text = data.toString("utf8");
      parsed = this.options.bigint ? parseLossless(text) : JSON.parse(text);
    } catch {
      this.hooks.onError(new StateError("protocol_error", "the engine sent a frame that is not JSON"));
      return;
    }
    if (parsed === null || typeof parsed !== "object") return;
    const message = parsed as IncomingFrame;
    switch (message.type) {
      case "invocationresult": {
        // Not a string: no call has that id, so the lookup finds nothing.
        const id = message.invocation_id as string;
        const entry = this.pending.get(id);
        if (entry === undefined) return; // timed out already
        this.pending.delete(id);
        const error = message.error as ErrorFields | null | undefined;
        if (error !== undefined && error !== null) {
          entry.reject(
            errorForCode(
              typeof error.code === "string" ? error.code : "unknown",
              typeof error.message === "string" ? error.message : JSON.stringify(error),
              entry.functionId,
              error as Partial<Record<string, unknown>>,
            ),
          );
        } else {
          entry.resolve(message.result);
        }
        return;
      }
      case "workerregistered": {
        this.workerId = typeof message.worker_id === "string" ? message.worker_id : null;
        this.reattachToken = typeof message.reattach_token === "string" ? message.reattach_token : null;
        if (this.firstConnect !== null) {
          const first = this.firstConnect;
          this.firstConnect = null;
          first.resolve();
        }
        return;
      }
      case "invokefunction":
        this.hooks.onInvoke(message as IncomingInvocation);
        return;
      case "triggerregistrationresult":
        if (message.error !== undefined && message.error !== null) {
          const e = message.error as ErrorFields;
          this.hooks.onError(
            errorForCode(
              typeof e.code === "string" ? e.code : "trigger_refused",
              `trigger ${String(message.id)} (${String(message.trigger_type)}) refused: ${
                typeof e.message === "string" ? e.message : JSON.stringify(e)
              }`,
              typeof message.function_id === "string" ? message.function_id : "",
            ),
          );
        }
        return;
      default:
        return; // unknown frames are ignored, as the protocol says
    }
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.open = false;
    // Sent calls may or may not have been applied: fail them, never resend.
    this.failAll(
      (p) =>
        new ConnectionError(
          "connection_lost",
          `${p.functionId}: the connection to ${this.options.url} was lost before the answer arrived (the call may or may not have been applied)`,
          { functionId: p.functionId },
        ),
      false,
    );
    if (this.closed) {
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const w of waiters) w();
      return;
    }
    const ceiling = Math.min(this.options.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    // Jitter so that many workers don't come back in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    if (this.firstConnect !== null && performance.now() + delay > this.firstConnect.giveUpAt) {
      // Still the first connect, and no budget left for another attempt.
      this.failFirstConnect(new ConnectionError("connect_failed", this.connectFailure(this.lastError)));
      return;
    }
    this.reconnectTimer = setTimeout(() => this.dial(), delay);
  }

  /** Fails pending calls: all of them, or only those already sent. */
  private failAll(makeError: (p: Pending) => Error, includeUnsent: boolean): void {
    for (const [id, entry] of this.pending) {
      if (!includeUnsent && !entry.sent) continue;
      this.pending.delete(id);
      entry.reject(makeError(entry));
    }
  }

  /** The one periodic timer: call timeouts and heartbeats. */
  private sweep(): void {
    const now = performance.now();
    // Every call gets the same timeout, so insertion order is deadline order:
    // stop at the first call that still has time.
    for (const [id, entry] of this.pending) {
      if (entry.deadline > now) break;
      this.pending.delete(id);
      entry.reject(
        entry.sent
          ? new TimeoutError(`${entry.functionId}: no answer within ${this.options.timeoutMs} ms`, {
              functionId: entry.functionId,
            })
          : new ConnectionError(
              "unavailable",
              `${entry.functionId}: not connected to ${this.options.url} within ${this.options.timeoutMs} ms (${this.lastError})`,
              { functionId: entry.functionId },
            ),
      );
    }
    if (this.open && this.ws !== null) {
      if (now - this.lastSeen > 3 * this.options.pingIntervalMs) {
        this.lastError = "the engine stopped answering pings";
        this.ws.terminate();
      } else if (now - this.lastPing >= this.options.pingIntervalMs) {
        this.lastPing = now;
        this.ws.ping();
      }
    }
  }
}
