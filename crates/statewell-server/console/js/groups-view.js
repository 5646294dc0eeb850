// The list of groups with their item counts, and creating an item in any
// group (a group exists as soon as it holds an item). The counts come one
// group at a time (GET /v1/groups/{group}, a few requests at once), and then
// follow the change feed: an item created or deleted moves its group's count
// without asking the engine again.

import { call, describe, field, links, num, paths } from "./api.js";
import { count, debounce, flash, h, replace } from "./dom.js";
import { editItem } from "./item-view.js";

/** Count requests in flight at once. */
const COUNT_LANES = 4;
/** Reads of one group's count while changes keep arriving during them. */
const MAX_REREADS = 3;

export function groupsView(root, { navigate }) {
  const body = h("tbody");
  const summary = h("p", { class: "muted", id: "groups-summary" });
  const table = h(
    "table",
    { class: "data", id: "groups-table" },
    h("caption", { class: "visually-hidden" }, "Groups"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Group"), h("th", { scope: "col", class: "num" }, "Items"))),
    body,
  );
  const create = async () => {
    const saved = await editItem({ group: "", key: "", creating: true, groupEditable: true });
    if (saved) navigate(links.group(saved.group));
  };
  replace(
    root,
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Groups"),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: create }, "New item…")),
    ),
    summary,
    h("div", { class: "table-wrap" }, table),
  );

  /**
   * group → {row, cell, count, stale} for the groups shown. `stale`: a
   * change arrived while the count was being read, which the answer may or
   * may not include, so it is read again.
   */
  let shown = new Map();
  let loadSeq = 0;

  function row(group) {
    const cell = h("td", { class: "num count" }, "…");
    const tr = h("tr", { dataset: { group } }, h("td", {}, h("a", { href: links.group(group) }, group)), cell);
    return { row: tr, cell, count: null, stale: false, rereads: 0 };
  }

  function showCount(entry) {
    replace(entry.cell, entry.count === null ? "…" : count(entry.count));
  }

  function showSummary() {
    const n = shown.size;
    replace(summary, `${count(n)} group${n === 1 ? "" : "s"}`);
    if (n === 0) {
      replace(body, h("tr", { class: "empty" }, h("td", { colspan: 2, class: "muted" }, "No group holds an item yet. Create one with “New item…”.")));
    }
  }

  async function loadCounts(seq, groups) {
    const queue = [...groups];
    const lane = async () => {
      while (queue.length && seq === loadSeq) {
        const group = queue.shift();
        const asked = shown.get(group);
        if (asked) asked.stale = false;
        try {
          const answer = (await call("GET", paths.group(group))).json();
          const entry = shown.get(group);
          if (entry && seq === loadSeq) {
            // A group written to without pause gets its count after a
            // few reads anyway, then follows the feed.
            if (entry.stale && entry.rereads < MAX_REREADS) {
              entry.rereads += 1;
              queue.push(group);
            } else {
              entry.count = num(field(answer, "items"));
              showCount(entry);
            }
          }
        } catch (error) {
          const entry = shown.get(group);
          if (entry) replace(entry.cell, h("span", { class: "field-error" }, describe(error)));
        }
      }
    };
    await Promise.all(Array.from({ length: COUNT_LANES }, lane));
  }

  async function load() {
    const seq = ++loadSeq;
    const answer = (await call("GET", paths.groups())).json();
    if (seq !== loadSeq) return;
    const names = field(answer, "groups") ?? [];
    shown = new Map(names.map((group) => [group, row(group)]));
    replace(body, [...shown.values()].map((entry) => entry.row));
    showSummary();
    await loadCounts(seq, names);
  }

  const reload = debounce(() => load().catch(() => {}), 300);

  function onChange(change) {
    const entry = shown.get(change.group);
    if (!entry) {
      // A new group: its place in the sorted list comes with a reload.
      if (change.eventType === "created") reload();
      return;
    }
    if (entry.count === null) {
      entry.stale = true; // its count is on its way
      return;
    }
    if (change.eventType === "created") entry.count += 1;
    else if (change.eventType === "deleted") entry.count = Math.max(0, entry.count - 1);
    else return;
    if (entry.count === 0) {
      entry.row.remove();
      shown.delete(change.group);
      showSummary();
      return;
    }
    showCount(entry);
    flash(entry.row, "changed");
  }

  return {
    load,
    feed: paths.watchAll(),
    feedLabel: "All groups",
    onOpen: reload,
    onChange,
  };
}
