// One group: its items a page at a time (never the whole group), filtered by
// key prefix, following the change feed: a created, changed or deleted item
// on the page shown is updated in place with a brief highlight.

import { call, describe, field, links, listItems, num, paths } from "./api.js";
import { breadcrumb, confirm, count, debounce, flash, h, replace, toast } from "./dom.js";
import { preview } from "./json-view.js";
import { editItem, expiry } from "./item-view.js";

const PAGE_SIZES = [25, 50, 100, 250];

/** Key order as the engine keeps it: by UTF-8 bytes, i.e. by code point. */
export function compareKeys(a, b) {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
}

export function groupView(root, { group, prefix: initialPrefix }, { navigate }) {
  let prefix = initialPrefix ?? "";
  let limit = 50;
  // The `after` cursor of each page up to the one shown: pages[0] is null.
  let cursors = [null];
  let page = { items: [], next: null };
  let total = null;
  let loadSeq = 0;

  const countText = h("span", { id: "group-count", class: "muted" });
  const filter = h("input", {
    id: "prefix-filter",
    type: "search",
    placeholder: "key prefix",
    autocomplete: "off",
    spellcheck: "false",
  });
  filter.value = prefix;
  const pageSize = h(
    "select",
    { id: "page-size" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === limit }, String(n))),
  );
  const head = h("thead");
  const body = h("tbody");
  const table = h("table", { class: "data items", id: "items-table" }, h("caption", { class: "visually-hidden" }, `Items of ${group}`), head, body);
  const pageLabel = h("span", { id: "page-label", class: "muted" });
  const prev = h("button", { type: "button", id: "prev-page", onclick: () => go(-1) }, "‹ Previous");
  const next = h("button", { type: "button", id: "next-page", onclick: () => go(1) }, "Next ›");

  const create = async () => {
    const saved = await editItem({ group, groupEditable: false });
    if (saved) await refresh();
  };
  const clear = async () => {
    const n = total ?? 0;
    const ok = await confirm(
      `Clear ${group}?`,
      `This deletes all ${count(n)} item${n === 1 ? "" : "s"} of the group ${group}. It cannot be undone.`,
      `Delete ${count(n)} item${n === 1 ? "" : "s"}`,
    );
    if (!ok) return;
    try {
      const reply = (await call("DELETE", paths.group(group))).json();
      toast(`Cleared ${group}: ${count(num(field(reply, "deleted")))} items deleted.`);
      await refresh();
    } catch (error) {
      toast(`Not cleared: ${describe(error)}`, "error");
    }
  };

  replace(
    root,
    breadcrumb(["Groups", links.groups()], group),
    h(
      "div",
      { class: "view-head" },
      h("h1", { class: "group-title" }, group, " ", countText),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: create }, "New item…"),
        h("button", { type: "button", class: "danger", id: "clear-group", onclick: clear }, "Clear group…"),
      ),
    ),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "prefix-filter" }, "Filter"),
      filter,
      h("label", { for: "page-size" }, "Per page"),
      pageSize,
    ),
    h("div", { class: "table-wrap" }, table),
    h("div", { class: "pager" }, prev, pageLabel, next),
  );

  filter.addEventListener(
    "input",
    debounce(() => {
      prefix = filter.value;
      cursors = [null];
      // Keep the address pasteable: the filter is part of it.
      history.replaceState(history.state, "", links.group(group, prefix));
      load().catch(showError);
    }, 250),
  );
  pageSize.addEventListener("change", () => {
    limit = Number(pageSize.value);
    cursors = [null];
    load().catch(showError);
  });

  function go(step) {
    // Until the page has loaded, its cursor is not known: one step at a time.
    prev.disabled = true;
    next.disabled = true;
    if (step > 0 && page.next !== null) cursors.push(page.next);
    if (step < 0 && cursors.length > 1) cursors.pop();
    load().then(() => table.querySelector("a")?.focus()).catch(showError);
  }

  const showExpiry = () => page.items.some((item) => item.expiresAt !== null);

  function row(item) {
    return h(
      "tr",
      { dataset: { key: item.key } },
      h("td", { class: "key" }, h("a", { href: links.item(group, item.key) }, item.key)),
      h("td", { class: "preview" }, h("code", {}, preview(item.value))),
      h("td", { class: "num version" }, String(item.version)),
      showExpiry() ? h("td", { class: "expiry" }, item.expiresAt === null ? "—" : expiry(item.expiresAt)) : null,
    );
  }

  function render() {
    replace(
      head,
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Key"),
        h("th", { scope: "col" }, "Value"),
        h("th", { scope: "col", class: "num" }, "Version"),
        showExpiry() ? h("th", { scope: "col" }, "Expires") : null,
      ),
    );
    const rows = page.items.map(row);
    if (rows.length === 0) {
      const message = prefix ? `No key starts with “${prefix}”.` : "This group holds no item.";
      rows.push(h("tr", { class: "empty" }, h("td", { colspan: 4, class: "muted" }, message)));
    }
    replace(body, rows);
    prev.disabled = cursors.length <= 1;
    next.disabled = page.next === null;
    const first = (cursors.length - 1) * limit;
    replace(
      pageLabel,
      page.items.length
        ? `Page ${cursors.length} · items ${count(first + 1)}–${count(first + page.items.length)}`
        : `Page ${cursors.length}`,
    );
  }

  function showCount() {
    replace(countText, total === null ? "" : `${count(total)} item${total === 1 ? "" : "s"}`);
  }

  // A change that arrives while a page or the count is being read may or
  // may not be in the answer: the changes are kept and applied again to the
  // page once it is read (applying one twice changes nothing), and the
  // count is read again.
  let pageReads = 0;
  let heldChanges = [];
  let countReads = 0;
  let countStale = false;

  async function load() {
    const seq = ++loadSeq;
    const after = cursors[cursors.length - 1];
    pageReads += 1;
    let answer;
    try {
      answer = await listItems(group, { prefix, after, limit });
    } finally {
      pageReads -= 1;
    }
    if (seq !== loadSeq) return; // a newer load is under way
    page = answer;
    render();
    if (pageReads === 0) {
      const held = heldChanges;
      heldChanges = [];
      for (const change of held) applyToPage(change, false);
    }
  }

  async function loadCount() {
    countStale = false;
    countReads += 1;
    let answer;
    try {
      answer = (await call("GET", paths.group(group))).json();
    } finally {
      countReads -= 1;
    }
    total = num(field(answer, "items"));
    showCount();
    if (countStale && countReads === 0) await loadCount();
  }

  async function refresh() {
    await Promise.all([load(), loadCount()]);
  }

  function showError(error) {
    replace(body, h("tr", {}, h("td", { colspan: 4, class: "field-error" }, `Could not list the items: ${describe(error)}`)));
  }

  /** Whether `key` falls on the page shown (between its cursor and its end). */
  function onThisPage(key) {
    if (prefix && !key.startsWith(prefix)) return false;
    const after = cursors[cursors.length - 1];
    if (after !== null && compareKeys(key, after) <= 0) return false;
    if (page.next !== null && page.items.length) {
      return compareKeys(key, page.items[page.items.length - 1].key) <= 0;
    }
    return true;
  }

  function onChange(change) {
    if (change.group !== group) return;
    if (countReads > 0) countStale = true;
    else if (total !== null) {
      if (change.eventType === "created") total += 1;
      if (change.eventType === "deleted") total = Math.max(0, total - 1);
      showCount();
    }
    if (pageReads > 0) heldChanges.push(change);
    applyToPage(change, true);
  }

  /** Shows a change on the page, if it falls there; `highlight` flashes its row. */
  function applyToPage(change, highlight) {
    if (!onThisPage(change.key)) return;
    const index = page.items.findIndex((item) => item.key === change.key);
    if (change.eventType === "deleted") {
      if (index < 0) return;
      page.items.splice(index, 1);
      const gone = highlight ? body.querySelector(`tr:nth-child(${index + 1})`) : null;
      if (!gone) render();
      else {
        flash(gone, "deleted");
        gone.classList.add("leaving");
        setTimeout(() => render(), 700);
      }
      return;
    }
    const item = { key: change.key, value: change.newValue, version: change.revision, expiresAt: null };
    if (index >= 0) {
      item.expiresAt = page.items[index].expiresAt;
      page.items[index] = item;
    } else {
      let at = page.items.findIndex((other) => compareKeys(change.key, other.key) < 0);
      if (at < 0) at = page.items.length;
      page.items.splice(at, 0, item);
      if (page.items.length > limit) {
        page.items.pop();
        page.next = page.items[page.items.length - 1].key;
      }
    }
    render();
    const tr = [...body.rows].find((r) => r.dataset.key === change.key);
    if (tr && highlight) flash(tr, change.eventType === "created" ? "created" : "changed");
  }

  return {
    load: refresh,
    feed: paths.watchGroup(group),
    feedLabel: `Group ${group}`,
    onOpen: () => refresh().catch(showError),
    onChange,
  };
}
