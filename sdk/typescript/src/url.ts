import { StateError } from "./errors.js";

export const DEFAULT_URL = "ws://127.0.0.1:49134";

/**
 * The engine's WebSocket address for `url`, the option, else `STATEWELL_URL`
 * (when set and not empty), else {@link DEFAULT_URL}. `ws://` and `wss://`
 * are kept; `http://` and `https://` become `ws://` and `wss://` (the engine
 * serves HTTP and WebSocket on one port). Anything else is refused with
 * `invalid_argument`. The Python SDK applies the same rules.
 */
export function engineUrl(url: string | undefined, env: string | undefined): string {
  const given = url ?? (env !== undefined && env !== "" ? env : DEFAULT_URL);
  const invalid = (reason: string) =>
    new StateError("invalid_argument", `connect: invalid url ${JSON.stringify(given)}: ${reason}`);
  const match = /^([a-z]+):\/\/(.*)$/i.exec(given);
  if (match === null) throw invalid("expected ws://HOST:PORT (or wss://, http://, https://)");
  const scheme = { ws: "ws", http: "ws", wss: "wss", https: "wss" }[match[1]!.toLowerCase()];
  if (scheme === undefined) throw invalid("the scheme must be ws, wss, http or https");
  const rest = match[2]!;
  if (rest === "" || rest.startsWith("/")) throw invalid("no host");
  const mapped = `${scheme}://${rest}`;
  try {
    new URL(mapped); // a bad port, a space in the host...
  } catch {
    throw invalid("not a URL");
  }
  return mapped;
}
