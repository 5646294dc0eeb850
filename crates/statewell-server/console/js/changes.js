// The "changes" panel: the last events of the feed the current view
// follows, newest first, each with its revision.

import { links } from "./api.js";
import { h, replace } from "./dom.js";
import { preview } from "./json-view.js";

const KEEP = 50;

export class ChangesPanel {
  constructor() {
    this.list = document.getElementById("changes-list");
    this.scope = document.getElementById("changes-scope");
  }

  /** Starts over for a new feed; `label` says what it covers. */
  reset(label) {
    replace(this.scope, label);
    replace(this.list, h("li", { class: "muted empty" }, "No changes yet."));
  }

  add(change) {
    this.list.querySelector(".empty")?.remove();
    const time = new Date().toLocaleTimeString([], { hour12: false });
    const value = change.eventType === "deleted" ? null : preview(change.newValue, 60);
    const item = h(
      "li",
      { class: `change change-${change.eventType}` },
      h(
        "div",
        { class: "change-head" },
        h("span", { class: `badge badge-${change.eventType}` }, change.eventType),
        h("span", { class: "revision", title: "revision" }, `#${change.revision ?? "?"}`),
        h("time", { class: "muted" }, time),
      ),
      h(
        "div",
        { class: "change-item" },
        h("a", { href: links.group(change.group) }, change.group),
        " / ",
        change.eventType === "deleted"
          ? h("span", { class: "key" }, change.key)
          : h("a", { class: "key", href: links.item(change.group, change.key) }, change.key),
      ),
      value === null ? null : h("code", { class: "change-value" }, value),
    );
    this.list.prepend(item);
    while (this.list.children.length > KEEP) this.list.lastElementChild.remove();
  }
}
