/**
 * Every error the client throws is a {@link StateError}: `code` is a stable
 * machine-readable string, and the subclass follows the code, exactly as in
 * the Python SDK (the table is `sdk/README.md`).
 */
export class StateError extends Error {
  /** Stable machine code, e.g. `value_too_large`, `timeout`, `connection_lost`. */
  readonly code: string;
  /** The function whose call failed (e.g. `state::set`), when a call failed. */
  readonly functionId: string | undefined;

  constructor(code: string, message: string, options: { functionId?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.functionId = options.functionId;
    this.name = new.target.name;
  }
}

/**
 * A condition (`ifVersion`, `ifAbsent`, a transaction's `check`) did not
 * hold: nothing was changed. Code `conflict`. `currentVersion` is the item's
 * version now (`null` when it is missing); `opIndex` names the failing op of
 * a transaction.
 */
export class ConflictError extends StateError {
  readonly currentVersion: number | null;
  readonly opIndex: number | undefined;

  constructor(
    message: string,
    options: { functionId?: string; currentVersion?: number | null; opIndex?: number } = {},
  ) {
    super("conflict", message, options);
    this.currentVersion = options.currentVersion ?? null;
    this.opIndex = options.opIndex;
  }
}

/** The engine refused the token (HTTP 401/403 on the upgrade). Code `unauthorized`. */
export class AuthenticationError extends StateError {
  constructor(message: string, options: { functionId?: string } = {}) {
    super("unauthorized", message, options);
  }
}

/**
 * The connection could not be made or was lost.
 * Codes: `connect_failed` (no engine at the address, within the connect
 * retry budget), `connection_lost` (dropped while the call was in flight: it
 * may or may not have been applied), `unavailable` (not reconnected within
 * the call's timeout: the call was never sent), `closed` (the client was closed).
 */
export class ConnectionError extends StateError {}

/** No answer arrived within `timeoutMs`. Code `timeout`. */
export class TimeoutError extends StateError {
  constructor(message: string, options: { functionId?: string } = {}) {
    super("timeout", message, options);
  }
}

/**
 * The error for a code the engine (or the worker serving a function) answered
 * with: the class follows the code, so `instanceof` works the same for codes
 * the client makes itself and codes that come over the wire.
 */
export function errorForCode(
  code: string,
  message: string,
  functionId: string,
  fields: Partial<Record<string, unknown>> = {},
): StateError {
  switch (code) {
    case "conflict":
      return new ConflictError(message, {
        functionId,
        currentVersion: typeof fields.current_version === "number" ? fields.current_version : null,
        opIndex: typeof fields.op_index === "number" ? fields.op_index : undefined,
      });
    case "unauthorized":
      return new AuthenticationError(message, { functionId });
    case "timeout":
      return new TimeoutError(message, { functionId });
    default:
      return new StateError(code, message, { functionId });
  }
}
