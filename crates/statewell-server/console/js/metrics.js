// Reading the engine's Prometheus text (/metrics) into the figures the
// engine view charts: operations per second and latency, from the
// difference between two samples of the counters.

/** name → [{labels, value}] */
export function parseMetrics(text) {
  const series = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, rawLabels, rawValue] = match;
    const labels = {};
    for (const pair of (rawLabels ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    const value = rawValue === "+Inf" ? Infinity : Number(rawValue);
    if (!series.has(name)) series.set(name, []);
    series.get(name).push({ labels, value });
  }
  return series;
}

function total(series, name, keep = () => true) {
  return (series.get(name) ?? []).filter((s) => keep(s.labels)).reduce((sum, s) => sum + s.value, 0);
}

export function gauge(series, name) {
  return series.get(name)?.[0]?.value ?? null;
}

/** The counters a rate is computed from, at one moment. */
export function sample(series, at) {
  const buckets = new Map();
  for (const s of series.get("statewell_operation_duration_seconds_bucket") ?? []) {
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return {
    at,
    ops: total(series, "statewell_operations_total"),
    latencySum: total(series, "statewell_operation_duration_seconds_sum"),
    latencyCount: total(series, "statewell_operation_duration_seconds_count"),
    buckets,
  };
}

/**
 * Between two samples: operations per second, mean latency (ms) and an
 * estimate of the 99th percentile (ms, the upper bound of the bucket it
 * falls in).
 */
export function rates(before, after) {
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0) return null;
  const ops = Math.max(0, after.ops - before.ops);
  const count = after.latencyCount - before.latencyCount;
  const mean = count > 0 ? ((after.latencySum - before.latencySum) / count) * 1000 : null;
  let p99 = null;
  if (count > 0) {
    const bounds = [...after.buckets.keys()].sort((a, b) => a - b);
    for (const le of bounds) {
      const inBucket = after.buckets.get(le) - (before.buckets.get(le) ?? 0);
      if (inBucket >= count * 0.99) {
        p99 = Number.isFinite(le) ? le * 1000 : null;
        break;
      }
    }
  }
  return { opsPerSecond: ops / seconds, meanMs: mean, p99Ms: p99 };
}
