// The live change feed (GET /v1/watch, /v1/groups/{group}/watch), read with
// fetch() and a ReadableStream: EventSource cannot send the Authorization
// header. The stream is reopened with a growing pause when it breaks, with
// Last-Event-ID (and ?from=) set to the last revision seen; since the engine
// may not resume from it, every (re)opening calls `onOpen`, and the view
// reloads what it shows, so a change made while disconnected is not missed.

import { authHeaders, field, needToken, num } from "./api.js";
import { parse } from "./json-view.js";

const FIRST_PAUSE_MS = 250;
const MAX_PAUSE_MS = 10_000;

export class Feed {
  /**
   * handlers: onChange(change), onOpen(), onState("connecting"|"live"|"reconnecting").
   * A change is {eventType, group, key, oldValue, newValue, revision}.
   */
  constructor(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.lastRevision = null;
    this.stopped = false;
    this.controller = null;
    this.wakeUp = null;
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    this.wakeUp?.();
  }

  async run() {
    let pause = FIRST_PAUSE_MS;
    this.handlers.onState?.("connecting");
    while (!this.stopped) {
      let outcome;
      try {
        outcome = await this.connect();
        if (outcome === "opened") pause = FIRST_PAUSE_MS;
      } catch {
        outcome = "failed";
      }
      if (this.stopped) return;
      this.handlers.onState?.("reconnecting");
      // A lagged stream comes back at once; a broken one after a pause.
      if (this.resync) {
        this.resync = false;
        continue;
      }
      await this.sleep(pause + Math.random() * pause * 0.2);
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async connect() {
    this.controller = new AbortController();
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    let path = this.path;
    if (this.lastRevision !== null) {
      headers["Last-Event-ID"] = String(this.lastRevision);
      path += `${path.includes("?") ? "&" : "?"}from=${this.lastRevision}`;
    }
    const response = await fetch(path, {
      headers,
      signal: this.controller.signal,
      cache: "no-store",
    });
    if (response.status === 401) {
      await response.body?.cancel();
      await needToken();
      return "refused";
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(`the feed answered ${response.status}`);
    }
    this.handlers.onState?.("live");
    this.handlers.onOpen?.();
    await this.read(response.body);
    return "opened";
  }

  /** Reads server-sent events until the stream ends. */
  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "message";
    let data = [];
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) this.dispatch(event, data.join("\n"), id);
          event = "message";
          data = [];
          id = null;
          continue;
        }
        if (line.startsWith(":")) continue; // a heartbeat comment
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let fieldValue = colon < 0 ? "" : line.slice(colon + 1);
        if (fieldValue.startsWith(" ")) fieldValue = fieldValue.slice(1);
        if (name === "event") event = fieldValue;
        else if (name === "data") data.push(fieldValue);
        else if (name === "id") id = fieldValue;
      }
      if (this.resync) {
        await reader.cancel();
        return;
      }
    }
  }

  dispatch(event, data, id) {
    if (event === "resync_required") {
      // Changes were lost for this stream: reopen and reload.
      this.resync = true;
      return;
    }
    if (event !== "change") return;
    let payload;
    try {
      payload = parse(data);
    } catch {
      return;
    }
    const revision = num(field(payload, "revision")) ?? (id !== null ? Number(id) : null);
    if (revision !== null) this.lastRevision = revision;
    const eventType = String(field(payload, "event_type") ?? "");
    this.handlers.onChange?.({
      eventType: eventType.replace(/^state:/, ""),
      group: field(payload, "scope"),
      key: field(payload, "key"),
      oldValue: field(payload, "old_value") ?? null,
      newValue: field(payload, "new_value") ?? null,
      revision,
    });
  }
}
