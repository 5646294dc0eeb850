/**
 * Every error the client throws is a {@link StatewellError}: `instanceof` tells
 * the kind, `code` is a stable machine-readable string.
 */
export class StatewellError extends Error {
  /** Stable machine code, e.g. `value_too_large`, `timeout`, `connection_lost`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The engine refused the call. `code` is the engine's own code
 * (`invalid_argument`, `value_too_large`, `deserialization_error`,
 * `function_not_found`, `storage_error`, ...).
 */
export class StateError extends StatewellError {
  /** The function that failed, e.g. `state::set`. */
  readonly functionId: string;

  constructor(code: string, message: string, functionId: string) {
    super(code, message);
    this.functionId = functionId;
  }
}

/** No answer arrived within `timeoutMs`. Code `timeout`. */
export class TimeoutError extends StatewellError {
  constructor(message: string) {
    super("timeout", message);
  }
}

/**
 * The connection could not be made or was lost.
 * Codes: `connect_failed`, `unauthorized` (the engine refused the token),
 * `connection_lost` (dropped while the call was in flight: it may or may not
 * have been applied), `closed` (the client was closed).
 */
export class ConnectionError extends StatewellError {}
