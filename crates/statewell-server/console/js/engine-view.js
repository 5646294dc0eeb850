// The engine: connected workers with their functions and state triggers
// (GET /v1/workers), store figures, and a live chart of operations per
// second and latency computed from /metrics, sampled every second.

import { call, describe, field, num, paths, text } from "./api.js";
import { bytes, count, h, replace, svg } from "./dom.js";
import { JsonObject, preview } from "./json-view.js";
import { gauge, parseMetrics, rates, sample } from "./metrics.js";

const WINDOW = 60; // samples (seconds) shown
const WIDTH = 600;
const HEIGHT = 120;

export function engineView(root) {
  const workers = h("div", { id: "workers" }, h("p", { class: "muted" }, "Loading…"));
  const figures = h("dl", { class: "meta", id: "store-figures" });
  const opsChart = chart("Operations per second", "ops-chart");
  const latencyChart = chart("Latency (ms): mean, and p99 upper bound", "latency-chart");
  replace(
    root,
    h("div", { class: "view-head" }, h("h1", {}, "Engine")),
    figures,
    h("div", { class: "charts" }, opsChart.figure, latencyChart.figure),
    h("h2", {}, "Workers"),
    workers,
  );

  const history = [];
  let previous = null;
  let stopped = false;
  let timer = null;
  let tick = 0;

  async function poll() {
    try {
      const series = parseMetrics(await text(paths.metrics()));
      const now = sample(series, Date.now());
      if (previous) {
        const r = rates(previous, now);
        if (r) history.push(r);
        while (history.length > WINDOW) history.shift();
      }
      previous = now;
      showFigures(series);
      opsChart.draw([history.map((r) => r.opsPerSecond)], (v) => v.toFixed(0));
      latencyChart.draw(
        [history.map((r) => r.meanMs), history.map((r) => r.p99Ms)],
        (v) => (v < 1 ? v.toFixed(2) : v.toFixed(1)),
      );
      if (tick++ % 2 === 0) await loadWorkers();
    } catch (error) {
      replace(figures, h("p", { class: "field-error" }, `Could not read the metrics: ${describe(error)}`));
    }
    if (!stopped) timer = setTimeout(poll, 1000);
  }

  function showFigures(series) {
    const last = history[history.length - 1];
    const entry = (label, value) => h("div", {}, h("dt", {}, label), h("dd", {}, value));
    replace(
      figures,
      entry("Operations/s", last ? last.opsPerSecond.toFixed(1) : "…"),
      entry("Mean latency", last && last.meanMs !== null ? `${last.meanMs.toFixed(2)} ms` : "—"),
      entry("Items", count(gauge(series, "statewell_store_items") ?? 0)),
      entry("Revision", count(gauge(series, "statewell_store_revision") ?? 0)),
      entry("Store size", bytes(gauge(series, "statewell_store_bytes") ?? 0)),
      entry("Workers", count(gauge(series, "statewell_workers_connected") ?? 0)),
      entry("Triggers", count(gauge(series, "statewell_triggers") ?? 0)),
    );
  }

  async function loadWorkers() {
    const answer = (await call("GET", paths.workers())).json();
    const list = field(answer, "workers") ?? [];
    const waiting = field(answer, "waiting_triggers") ?? [];
    const rows = list.map((worker) => {
      const metadata = field(worker, "metadata");
      const name =
        metadata instanceof JsonObject ? field(metadata, "name") ?? field(metadata, "runtime") : null;
      const since = new Date(num(field(worker, "connected_at_ms")));
      return h(
        "tr",
        {},
        h(
          "td",
          {},
          h("code", {}, field(worker, "id")),
          typeof name === "string" ? h("div", {}, name) : null,
          metadata !== null && metadata !== undefined
            ? h("div", { class: "muted small" }, preview(metadata, 80))
            : null,
        ),
        h("td", {}, since.toLocaleTimeString([], { hour12: false })),
        h("td", {}, list_(field(worker, "functions") ?? [], (f) => h("code", {}, f))),
        h("td", {}, list_(field(worker, "triggers") ?? [], trigger)),
      );
    });
    if (rows.length === 0) {
      rows.push(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No worker is connected.")));
    }
    replace(
      workers,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data", id: "workers-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Worker"),
              h("th", { scope: "col" }, "Since"),
              h("th", { scope: "col" }, "Functions"),
              h("th", { scope: "col" }, "State triggers"),
            ),
          ),
          h("tbody", {}, rows),
        ),
      ),
      waiting.length
        ? [
            h("h3", {}, "Triggers waiting for their worker to reconnect"),
            list_(waiting, trigger),
          ]
        : null,
    );
  }

  poll();
  return {
    load: async () => {},
    feed: paths.watchAll(),
    feedLabel: "All groups",
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function list_(items, render) {
  if (!items.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "plain" }, items.map((item) => h("li", {}, render(item))));
}

function trigger(t) {
  const scope = field(t, "scope");
  const key = field(t, "key");
  const condition = field(t, "condition_function_id");
  const what = scope ? (key ? `${scope} / ${key}` : scope) : "every group";
  return [
    h("code", {}, field(t, "function_id")),
    " ← ",
    what,
    condition ? h("span", { class: "muted" }, ` if ${condition}`) : null,
  ];
}

/** A small line chart; `draw` takes one or more series of numbers (or null). */
function chart(title, id) {
  const plot = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    role: "img",
    "aria-label": title,
    id,
    preserveAspectRatio: "none",
  });
  const legend = h("figcaption", {}, title);
  const figure = h("figure", { class: "chart-box" }, legend, plot);
  return {
    figure,
    draw(series, format) {
      const values = series.flat().filter((v) => v !== null && Number.isFinite(v));
      const max = Math.max(1e-9, ...values) * 1.1;
      plot.replaceChildren();
      for (let y = 1; y <= 3; y++) {
        const at = HEIGHT - (HEIGHT * y) / 4;
        plot.append(svg("line", { x1: 0, x2: WIDTH, y1: at, y2: at, class: "grid" }));
      }
      series.forEach((points, i) => {
        const step = WIDTH / (WINDOW - 1);
        const offset = WINDOW - points.length;
        const coords = points
          .map((v, j) => (v === null || !Number.isFinite(v) ? null : `${((offset + j) * step).toFixed(1)},${(HEIGHT - (v / max) * HEIGHT).toFixed(1)}`))
          .filter(Boolean);
        if (coords.length) plot.append(svg("polyline", { points: coords.join(" "), class: `line line-${i}` }));
      });
      const last = series[0].at(-1);
      replace(legend, title, h("span", { class: "chart-now" }, last === null || last === undefined ? "" : ` · now ${format(last)} · max ${format(max / 1.1)}`));
    },
  };
}
