// The console's entry point: reads the address (/ui/groups/{group},
// /ui/groups/{group}/items/{key}, /ui/engine), opens that view, follows the
// change feed the view asks for, and keeps the browser's back and forward
// working (links are handled here with the History API).

import { ChangesPanel } from "./changes.js";
import { describe } from "./api.js";
import { h, replace } from "./dom.js";
import { engineView } from "./engine-view.js";
import { Feed } from "./feed.js";
import { groupView } from "./group-view.js";
import { groupsView } from "./groups-view.js";
import { itemView } from "./item-view.js";

const main = document.getElementById("main");
const connection = document.getElementById("connection");
const changes = new ChangesPanel();

let current = null; // {view, feed}

/** Which view an address names, with its decoded parameters. */
export function route(pathname, search) {
  const rest = pathname.replace(/^\/ui\/?/, "").replace(/\/$/, "");
  const parts = rest === "" ? [] : rest.split("/");
  const decode = (segment) => decodeURIComponent(segment);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "groups")) return { name: "groups" };
  if (parts[0] === "engine" && parts.length === 1) return { name: "engine" };
  if (parts[0] === "groups" && parts.length === 2 && parts[1] !== "") {
    const prefix = new URLSearchParams(search).get("prefix") ?? "";
    return { name: "group", group: decode(parts[1]), prefix };
  }
  if (parts[0] === "groups" && parts.length === 4 && parts[2] === "items" && parts[1] && parts[3]) {
    return { name: "item", group: decode(parts[1]), key: decode(parts[3]) };
  }
  return { name: "missing" };
}

function navigate(href) {
  history.pushState(null, "", href);
  show();
}

function setConnection(state) {
  const text = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" }[state] ?? state;
  connection.textContent = text;
  connection.dataset.state = state;
}

function show() {
  if (current) {
    current.feed?.stop();
    current.view?.destroy?.();
    current = null;
  }
  let where;
  try {
    where = route(location.pathname, location.search);
  } catch {
    where = { name: "missing" };
  }
  const context = { navigate };
  let view;
  switch (where.name) {
    case "groups":
      view = groupsView(main, context);
      document.title = "Groups · statewell";
      break;
    case "group":
      view = groupView(main, where, context);
      document.title = `${where.group} · statewell`;
      break;
    case "item":
      view = itemView(main, where, context);
      document.title = `${where.key} · ${where.group} · statewell`;
      break;
    case "engine":
      view = engineView(main, context);
      document.title = "Engine · statewell";
      break;
    default:
      replace(main, h("h1", {}, "Not found"), h("p", {}, "The console has no such page. ", h("a", { href: "/ui/groups" }, "Go to the groups.")));
      document.title = "Not found · statewell";
      return;
  }
  for (const link of document.querySelectorAll("header nav a")) {
    const active = link.dataset.section === (where.name === "engine" ? "engine" : "groups");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  changes.reset(view.feedLabel);
  view.load().catch((error) => {
    main.append(h("p", { class: "field-error", role: "alert" }, `Could not load: ${describe(error)}`));
  });
  const feed = new Feed(view.feed, {
    onState: setConnection,
    onOpen: () => view.onOpen?.(),
    onChange: (change) => {
      changes.add(change);
      view.onChange?.(change);
    },
  }).start();
  current = { view, feed };
}

// Links inside the console change the view without reloading the page.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest?.("a[href]");
  if (!link || link.target) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
  main.focus({ preventScroll: true });
});

window.addEventListener("popstate", show);

// `/ui/` itself shows the groups; give it its own address.
if (location.pathname === "/ui/" || location.pathname === "/ui") {
  history.replaceState(null, "", "/ui/groups");
}
show();
