export { connect, Statewell, DEFAULT_URL } from "./client.js";
export { StateClient } from "./state.js";
export { StatewellError, StateError, TimeoutError, ConnectionError } from "./errors.js";
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
  UpdateOp,
  UpdateOpError,
  UpdatePath,
  UpdateResult,
} from "./types.js";
