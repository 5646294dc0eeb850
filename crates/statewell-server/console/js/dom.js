// Building the page. Every piece of text that comes from the engine (group
// names, keys, values, error messages) goes into the page as a text node,
// never as HTML: this module has no innerHTML anywhere, so a key holding
// `<img src=x onerror=...>` is shown as those characters and runs nothing.

/** An element with attributes and children (strings become text nodes). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element (for the charts). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.setAttribute("class", value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * The breadcrumb trail of a view: `[label, href]` pairs as links, the last
 * entry (the page shown) as plain text.
 */
export function breadcrumb(...trail) {
  const current = trail.pop();
  const parts = trail.flatMap(([label, href]) => [h("a", { href }, label), " › "]);
  return h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, parts, h("span", { "aria-current": "page" }, current));
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Restarts a short highlight animation on an element. */
export function flash(el, kind = "changed") {
  el.classList.remove("flash-changed", "flash-created", "flash-deleted");
  // Reading the layout restarts the CSS animation.
  void el.offsetWidth;
  el.classList.add(`flash-${kind}`);
}

/** A short message in the corner that goes away by itself. */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/**
 * A modal dialog (native <dialog>: focus stays inside, Escape cancels).
 * `body` is a list of nodes; `buttons` are [{label, value, kind}]. Resolves
 * with the chosen button's value, or null when cancelled.
 */
export function modal({ title, body, buttons, cancellable = true, onSubmit }) {
  return new Promise((resolve) => {
    const form = h("form", { class: "dialog-form", novalidate: true });
    const actions = h("div", { class: "dialog-actions" });
    let chosen = null;
    for (const button of buttons) {
      actions.append(
        h(
          "button",
          {
            type: button.submit ? "submit" : "button",
            class: button.kind ?? "",
            value: button.value,
            onclick: button.submit ? null : () => close(button.value),
          },
          button.label,
        ),
      );
    }
    const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title),
      form,
    );
    append(form, [body, actions]);
    function close(value) {
      chosen = value;
      dialog.close();
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const submitter = event.submitter;
      if (onSubmit) {
        const ok = await onSubmit(form);
        if (!ok) return;
      }
      close(submitter?.value ?? "ok");
    });
    dialog.addEventListener("cancel", (event) => {
      if (!cancellable) event.preventDefault();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(chosen);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = form.querySelector("input, textarea, button.primary, button");
    first?.focus();
  });
}

/** Asks a yes/no question; resolves true when confirmed. */
export async function confirm(title, message, confirmLabel, kind = "danger") {
  const answer = await modal({
    title,
    body: [h("p", {}, message)],
    buttons: [
      { label: "Cancel", value: "cancel" },
      { label: confirmLabel, value: "yes", kind, submit: true },
    ],
  });
  return answer === "yes";
}

/** A number with thousands separators. */
export function count(n) {
  return Number(n).toLocaleString("en-US");
}

/** Bytes in B, KiB or MiB. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Calls `fn` once calls stop for `ms`. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
