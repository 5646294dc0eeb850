// One item: its value as a collapsible tree with its version, size and
// expiry; editing it as JSON text (checked as you type, saved with If-Match
// so that a change made meanwhile is shown as a conflict instead of being
// overwritten); update ops; deleting it.

import { ApiError, call, describe, field, getItem, links, num, paths } from "./api.js";
import { breadcrumb, bytes, confirm, flash, h, modal, replace, toast } from "./dom.js";
import { parse, renderTree, size, stringify } from "./json-view.js";

/** Checks JSON text; the message to show, or null when it is valid. */
export function validate(text) {
  if (!text.trim()) return "Enter a JSON value.";
  try {
    parse(text);
    return null;
  } catch (error) {
    return `Not valid JSON: ${error.message}.`;
  }
}

function jsonField(id, text) {
  const area = h("textarea", {
    id,
    class: "json-input",
    spellcheck: "false",
    autocomplete: "off",
    rows: 12,
    "aria-describedby": `${id}-status`,
  });
  area.value = text;
  const status = h("p", { id: `${id}-status`, class: "field-status", "aria-live": "polite" });
  const check = () => {
    const problem = validate(area.value);
    status.textContent = problem ?? "Valid JSON.";
    status.classList.toggle("invalid", problem !== null);
    area.setAttribute("aria-invalid", problem !== null ? "true" : "false");
    return problem === null;
  };
  area.addEventListener("input", check);
  // Tab inserts two spaces (Escape then Tab leaves the field).
  let escaped = false;
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") escaped = true;
    else if (event.key === "Tab" && !event.shiftKey && !escaped) {
      event.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      check();
    } else escaped = false;
  });
  check();
  return { area, status, check };
}

/**
 * The "new item" dialog. Resolves with {group, key} once saved, null when
 * cancelled.
 */
export async function editItem({ group, groupEditable }) {
  const groupInput = h("input", { id: "new-group", name: "group", required: true, autocomplete: "off" });
  groupInput.value = group;
  const keyInput = h("input", { id: "new-key", name: "key", required: true, autocomplete: "off" });
  const value = jsonField("new-value", "{}");
  const error = h("p", { class: "field-error", role: "alert" });
  let saved = null;
  const answer = await modal({
    title: groupEditable ? "New item" : `New item in ${group}`,
    body: [
      groupEditable ? [h("label", { for: "new-group" }, "Group"), groupInput] : null,
      h("label", { for: "new-key" }, "Key"),
      keyInput,
      h("label", { for: "new-value" }, "Value (JSON)"),
      value.area,
      value.status,
      error,
    ],
    buttons: [
      { label: "Cancel", value: "cancel" },
      { label: "Create", value: "save", kind: "primary", submit: true },
    ],
    onSubmit: async () => {
      const g = groupEditable ? groupInput.value : group;
      const key = keyInput.value;
      if (!g) return showError("Enter a group.");
      if (!key) return showError("Enter a key.");
      if (!value.check()) return showError("The value is not valid JSON.");
      try {
        // "New" never replaces: the engine has no create-only write yet, so
        // the console looks first (a write landing in between would still
        // be replaced, and is reported). If-None-Match: * says the same to
        // an engine that honours it.
        if (await getItem(g, key)) return showError(`An item ${key} exists already in ${g}: open it to edit it.`);
        const reply = await call("PUT", paths.item(g, key), {
          body: value.area.value,
          headers: { "If-None-Match": "*" },
        });
        if (reply.status === 200) toast(`${key} was created meanwhile by someone else: its value was replaced.`, "warn");
        else toast(`Created ${key} (version ${reply.version}).`);
        saved = { group: g, key };
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.status === 412) return showError(`An item ${key} exists already.`);
        return showError(describe(e));
      }
    },
  });
  function showError(message) {
    error.textContent = message;
    return false;
  }
  return answer === "save" ? saved : null;
}

export function itemView(root, { group, key }, { navigate }) {
  let item = null;
  let editing = null; // {baseVersion, field}
  const meta = h("dl", { class: "meta", id: "item-meta" });
  const notice = h("div", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
  const content = h("div", { id: "item-content", class: "item-content" });
  const editButton = h("button", { type: "button", class: "primary", onclick: () => startEdit(), accesskey: "e" }, "Edit");
  const opsButton = h("button", { type: "button", onclick: () => applyOps() }, "Update ops…");
  const deleteButton = h("button", { type: "button", class: "danger", onclick: () => remove() }, "Delete…");

  replace(
    root,
    breadcrumb(["Groups", links.groups()], [group, links.group(group)], key),
    h(
      "div",
      { class: "view-head" },
      h("h1", { class: "key-title" }, key),
      h("div", { class: "actions" }, editButton, opsButton, deleteButton),
    ),
    meta,
    notice,
    content,
  );

  function showMeta() {
    if (!item) {
      replace(meta);
      return;
    }
    replace(
      meta,
      h("div", {}, h("dt", {}, "Version"), h("dd", { id: "item-version" }, String(item.version))),
      h("div", {}, h("dt", {}, "Size"), h("dd", {}, bytes(size(item.value)))),
      item.expiresAt !== null
        ? h("div", {}, h("dt", {}, "Expires"), h("dd", {}, expiry(item.expiresAt)))
        : null,
    );
  }

  function showValue() {
    if (!item) {
      replace(
        content,
        h("p", { class: "muted", id: "item-missing" }, `No item ${key} in ${group}.`),
        h("button", { type: "button", onclick: () => startEdit("{}") }, "Create it"),
      );
      return;
    }
    replace(content, renderTree(item.value));
  }

  let loadSeq = 0;

  async function load() {
    // Reads can overlap (a change arriving during one starts another) and
    // answer out of order: only the latest one is shown.
    const seq = ++loadSeq;
    const read = await getItem(group, key);
    if (seq !== loadSeq) return;
    item = read;
    for (const button of [opsButton, deleteButton]) button.disabled = item === null;
    editButton.disabled = item === null;
    showMeta();
    if (!editing) showValue();
  }

  function say(message, kind = "info") {
    notice.hidden = false;
    notice.className = `notice notice-${kind}`;
    replace(notice, message);
  }

  function startEdit(text) {
    const initial = text ?? stringify(item.value, 2);
    const input = jsonField("edit-value", initial);
    editing = { baseVersion: item ? item.version : null, input };
    notice.hidden = true;
    const save = h("button", { type: "button", class: "primary", onclick: () => saveEdit() }, "Save");
    const format = h(
      "button",
      {
        type: "button",
        onclick: () => {
          if (input.check()) input.area.value = stringify(parse(input.area.value), 2);
        },
      },
      "Format",
    );
    const cancel = h("button", { type: "button", onclick: () => stopEdit() }, "Cancel");
    replace(
      content,
      h("label", { for: "edit-value" }, "Value (JSON)"),
      input.area,
      input.status,
      h("div", { class: "actions" }, save, format, cancel),
      h("div", { id: "conflict" }),
    );
    input.area.focus();
  }

  function stopEdit() {
    editing = null;
    notice.hidden = true;
    load().catch(showLoadError);
  }

  async function saveEdit(overVersion) {
    const { input } = editing;
    if (!input.check()) {
      say("Not saved: the value is not valid JSON.", "error");
      input.area.focus();
      return;
    }
    const expected = overVersion === undefined ? editing.baseVersion : overVersion;
    const headers = expected !== null ? { "If-Match": `"${expected}"` } : { "If-None-Match": "*" };
    try {
      // The engine does not check If-Match yet: the console compares the
      // versions itself just before writing, so a change made since the
      // edit began is shown, not overwritten. (A write landing between
      // this read and the PUT is still overwritten until the engine
      // checks If-Match.)
      const now = await getItem(group, key);
      if ((now ? now.version : null) !== expected) {
        await showConflict(null, now);
        return;
      }
      const reply = await call("PUT", paths.item(group, key), { body: input.area.value, headers });
      toast(`Saved ${key} (version ${reply.version}).`);
      stopEdit();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 412 || error.code === "conflict")) {
        await showConflict(error, await getItem(group, key));
      } else {
        say(`Not saved: ${describe(error)}`, "error");
      }
    }
  }

  /** Someone changed the item since the edit began: show theirs, keep ours. */
  async function showConflict(error, current) {
    const box = content.querySelector("#conflict");
    const version = current ? current.version : num(error?.details.current_version ?? null);
    replace(
      box,
      h(
        "section",
        { class: "conflict", role: "alert", "aria-labelledby": "conflict-title" },
        h("h2", { id: "conflict-title" }, "Conflict: not saved"),
        h(
          "p",
          {},
          current
            ? `This item was changed since you began editing: it is now at version ${version}. Your text is kept above; the current value is:`
            : "This item was deleted since you began editing. Your text is kept above.",
        ),
        current ? renderTree(current.value) : null,
        h(
          "div",
          { class: "actions" },
          h(
            "button",
            { type: "button", class: "danger", id: "save-over", onclick: () => saveEdit(current ? current.version : null) },
            current ? "Save mine over it" : "Create it again",
          ),
          h("button", { type: "button", onclick: () => stopEdit() }, "Discard my edit"),
        ),
      ),
    );
    if (current) {
      item = current;
      showMeta();
    }
  }

  async function applyOps() {
    const ops = jsonField("ops-value", '[\n  {"type": "set", "path": "status", "value": "done"}\n]');
    const error = h("p", { class: "field-error", role: "alert" });
    await modal({
      title: `Update ${key}`,
      body: [
        h(
          "p",
          { class: "muted small" },
          "Ops apply in order, atomically: set, merge, increment, decrement, append, remove (see docs/update-ops.md).",
        ),
        h("label", { for: "ops-value" }, "Ops (a JSON array)"),
        ops.area,
        ops.status,
        error,
      ],
      buttons: [
        { label: "Cancel", value: "cancel" },
        { label: "Apply", value: "apply", kind: "primary", submit: true },
      ],
      onSubmit: async () => {
        if (!ops.check()) return false;
        if (!Array.isArray(parse(ops.area.value))) {
          error.textContent = "The ops must be a JSON array.";
          return false;
        }
        try {
          const reply = await call("PATCH", paths.item(group, key), {
            body: `{"ops":${ops.area.value}}`,
          });
          const skipped = field(reply.json(), "errors") ?? [];
          if (skipped.length) {
            const messages = skipped.map((e) => `op ${stringify(field(e, "op_index"))}: ${field(e, "message")}`);
            toast(`Applied, but skipped ${messages.join("; ")}`, "warn");
          } else toast(`Updated ${key} (version ${reply.version}).`);
          return true;
        } catch (e) {
          error.textContent = describe(e);
          return false;
        }
      },
    });
    await load().catch(showLoadError);
  }

  async function remove() {
    if (!(await confirm(`Delete ${key}?`, `The item ${key} will be removed from ${group}.`, "Delete"))) return;
    try {
      await call("DELETE", paths.item(group, key));
      toast(`Deleted ${key}.`);
      navigate(links.group(group));
    } catch (error) {
      say(`Not deleted: ${describe(error)}`, "error");
    }
  }

  function showLoadError(error) {
    replace(content, h("p", { class: "field-error", role: "alert" }, `Could not read the item: ${describe(error)}`));
  }

  return {
    load,
    feed: `${paths.watchGroup(group)}?key=${encodeURIComponent(key)}`,
    feedLabel: `${group} / ${key}`,
    onOpen: () => load().catch(showLoadError),
    onChange(change) {
      if (change.key !== key || change.group !== group) return;
      if (editing) {
        say(
          change.eventType === "deleted"
            ? "This item was deleted while you edit it."
            : `This item was changed (now version ${change.revision}) while you edit it: saving will show the conflict.`,
          "warn",
        );
        return;
      }
      load()
        .then(() => flash(content, change.eventType))
        .catch(showLoadError);
    },
  };
}

function expiry(node) {
  const ms = typeof node === "string" ? Date.parse(node) : num(node);
  if (ms === null || Number.isNaN(ms)) return stringify(node);
  const date = new Date(ms);
  const left = Math.round((ms - Date.now()) / 1000);
  return `${date.toLocaleString()} (${left > 0 ? `in ${left} s` : "due"})`;
}

export { expiry };
