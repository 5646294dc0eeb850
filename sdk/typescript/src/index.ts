export { connect, Statewell } from "./client.js";
export { DEFAULT_URL } from "./url.js";
export { StateClient } from "./state.js";
export { StateError, ConflictError, AuthenticationError, ConnectionError, TimeoutError } from "./errors.js";
export type {
  ConnectOptions,
  FunctionHandler,
  JsonValue,
  ListItemsOptions,
  ListItemsPage,
  StateChangeEvent,
  StateChangeFilter,
  StateChangeOptions,
  StateItem,
  StreamSetResult,
  TransactionOp,
  TransactionResult,
  UpdateOp,
  VersionedItem,
  WriteOptions,
  UpdateOpError,
  UpdatePath,
  UpdateResult,
} from "./types.js";
