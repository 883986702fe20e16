/**
 * Turns a benchmark run into bench/RESULTS.md and its charts: medians,
 * min–max, ratios to redis-benchmark and to Bun's RedisClient, the goals of
 * issues 3 and 4, the latencies of single calls, peak RSS, the sweeps,
 * versions, machine and the exact commands. Raw files of older runs (fewer
 * workloads, no latencies) render too.
 */
import { barChart, compact, lineChart, type Series } from "./svg.ts";
import {
  BUN_CLIENT,
  CLIENTS,
  isLatency,
  type Kind,
  readsStrings,
  REDIS_BENCHMARK,
  SWEEPS,
  type Workload,
} from "./spec.mjs";
import { type ShapeMeasurement, shapesSection } from "./shapes.ts";

/** One client's samples for one workload (or sweep point). */
export interface Measurement {
  workload: string;
  sweep?: string;
  client: string;
  label: string;
  /** Operations per sample. */
  ops: number;
  /** Throughput per sample, operations per second. */
  samples: number[];
  /** Duration per sample, milliseconds. */
  ms: number[];
  command: string;
  /** Wall time of the whole measurement (start-up, warm-up, samples). */
  seconds: number;
  runtime?: string;
  version?: string;
  /** RSS after connecting, before the warm-up (kB). */
  rssKb?: number;
  /** Peak RSS of the client process (VmHWM, kB). */
  peakRssKb?: number;
  /** Server CPU time per operation over the measurement (µs), from INFO cpu. */
  serverUsPerOp?: number;
  /** Latency workloads: the median call duration of each sample (µs). */
  p50Us?: number[];
  /** Latency workloads: the 99th percentile call duration of each sample (µs). */
  p99Us?: number[];
  skipped?: string;
  error?: string;
}

export interface RunResult {
  date: string;
  partial: boolean;
  quick: boolean;
  pinned: boolean;
  serverCpu: string;
  clientCpu: string;
  machine: Record<string, string>;
  versions: Record<string, string>;
  loadBefore: string;
  loadAfter: string;
  seconds: number;
  serverCommand: string;
  workloads: Workload[];
  measurements: Measurement[];
  sweeps: Record<string, { size: number; m: Measurement }[]>;
  /** Issue 12's shapes (bench/shapes.ts); absent from runs made before them. */
  shapes?: ShapeMeasurement[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const upper = s[mid] ?? NaN, lower = s[mid - 1];
  return s.length % 2 || lower === undefined ? upper : (lower + upper) / 2;
}

/** The goals of issues 3 (the synchronous client) and 4 (the pool) for cpipe, as ratios measured in the same run. */
export const GOALS = [
  { issue: 3, workload: "W2", vs: REDIS_BENCHMARK.id, target: 0.75 },
  { issue: 3, workload: "W2", vs: BUN_CLIENT, target: 2 },
  { issue: 3, workload: "W4", vs: REDIS_BENCHMARK.id, target: 0.8 },
  { issue: 3, workload: "W4", vs: BUN_CLIENT, target: 1.5 },
  { issue: 3, workload: "W5", vs: REDIS_BENCHMARK.id, target: 0.9 },
  { issue: 3, workload: "W1", vs: BUN_CLIENT, target: 1.05 },
  { issue: 4, workload: "W3", vs: BUN_CLIENT, target: 1.5 },
  { issue: 4, workload: "W3s", vs: BUN_CLIENT, target: 1.2 },
  { issue: 4, workload: "W6", vs: BUN_CLIENT, target: 1.5 },
  { issue: 11, workload: "W2t", vs: BUN_CLIENT, target: 1.5 },
  { issue: 11, workload: "W3t", vs: BUN_CLIENT, target: 1.5 },
  { issue: 11, workload: "W6t", vs: BUN_CLIENT, target: 1.5 },
];

/**
 * The rows of the latency table: cpipe's pool and its synchronous client, each back to back and
 * idle. The peers only have the pool's kinds (one connection, promises).
 */
interface LatencyRow {
  variant: string;
  back: Kind;
  idle: Kind;
}
// Non-empty: the peers' rows take the first.
const LATENCY_ROWS: [LatencyRow, ...LatencyRow[]] = [
  { variant: "pool", back: "latency", idle: "latencyIdle" },
  { variant: "sync", back: "latencySync", idle: "latencyIdleSync" },
];

const CPIPE = ["cpipe-deno", "cpipe-bun"];

function ops(v: number): string {
  if (!Number.isFinite(v)) return "–";
  return v >= 1e6
    ? `${(v / 1e6).toFixed(2)}M`
    : v >= 1e4
    ? `${(v / 1e3).toFixed(0)}k`
    : v >= 1e3
    ? `${(v / 1e3).toFixed(1)}k`
    : v.toFixed(0);
}

function ratio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}×` : "–";
}

function us(v: number): string {
  return Number.isFinite(v) ? `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} µs` : "–";
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function mb(kb: number | undefined): string {
  return kb ? `${(kb / 1024).toFixed(0)} MB` : "–";
}

/** Share of the wall time the server spent on CPU at the median rate: near 100%, the server is the limit. */
function busy(m: Measurement): string {
  if (m.serverUsPerOp === undefined || !Number.isFinite(m.serverUsPerOp)) return "–";
  return `${Math.round((m.serverUsPerOp * median(m.samples)) / 1e4)}%`;
}

function ok(m: Measurement | undefined): m is Measurement {
  return m !== undefined && !m.skipped && !m.error && m.samples.length > 0;
}

/** Why a measurement has no number, in a few words (a skip's reason is the client's own). */
function why(m: Measurement | undefined): string {
  if (m === undefined) return "not run";
  if (m.skipped) return m.skipped;
  if (m.error) return "failed";
  return "";
}

/** The workloads that measure throughput (every one in runs from before the latency workloads). */
function throughputWorkloads(r: RunResult): Workload[] {
  return r.workloads.filter((w) => !isLatency(w.kind));
}

class Table {
  constructor(readonly r: RunResult) {}
  get(workload: string, client: string): Measurement | undefined {
    return this.r.measurements.find((m) => m.workload === workload && m.client === client);
  }
  median(workload: string, client: string): number {
    const m = this.get(workload, client);
    return ok(m) ? median(m.samples) : NaN;
  }
  ratio(workload: string, client: string, vs: string): number {
    return this.median(workload, client) / this.median(workload, vs);
  }
  clients(): { id: string; label: string; color: string }[] {
    const ids = new Set(this.r.measurements.map((m) => m.client));
    return CLIENTS.filter((c) => ids.has(c.id));
  }
  hasBenchmark(): boolean {
    return this.r.measurements.some((m) => m.client === REDIS_BENCHMARK.id);
  }
}

/** "5–10": the range of sample counts among measurements. */
function sampleCounts(ms: Measurement[]): string {
  const counts = ms.filter(ok).map((m) => m.samples.length);
  if (!counts.length) return "0";
  const lo = Math.min(...counts), hi = Math.max(...counts);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** A latency cell pair: the medians over samples of each sample's p50 and p99, or why there are none. */
function latencyCells(m: Measurement | undefined): string[] {
  if (!ok(m) || !m.p50Us?.length || !m.p99Us?.length) return [why(m) || "–", ""];
  return [us(median(m.p50Us)), us(median(m.p99Us))];
}

/** The latency table: one row per client (cpipe once per variant), p50 and p99 back to back and idle. */
function latencySection(out: string[], r: RunResult, t: Table, clients: { id: string; label: string }[]): void {
  const lat = r.workloads.filter((w) => isLatency(w.kind));
  if (!lat.length) return;
  // The early rows (a process's first calls) and the warm ones (`warm`) share their kinds.
  const id = (kind: Kind, warm = false) => lat.find((w) => w.kind === kind && !!w.warm === warm)?.id ?? kind;
  const calls = (workload: string) => {
    const w = lat.find((x) => x.id === workload);
    return w === undefined
      ? "calls"
      : `${w.n.toLocaleString("en-US")} calls after ${(w.warmup * w.warmupN).toLocaleString("en-US")} of warm-up`;
  };
  const warmIds = lat.filter((w) => w.warm).map((w) => w.id);
  const warmColumns = warmIds.length > 0;
  const rows = [
    ...LATENCY_ROWS.flatMap((v) => CPIPE.map((client) => ({ v, client }))),
    ...clients.filter((c) => !CPIPE.includes(c.id)).map((c) => ({ v: LATENCY_ROWS[0], client: c.id })),
  ];
  const samples = sampleCounts(r.measurements.filter((m) => lat.some((w) => w.id === m.workload)));
  out.push("## Latency", "");
  out.push(
    "How long one GET of one key (`word|0`) takes for a single caller, from just before the call to just after " +
      `its reply is in JavaScript: back to back (${LATENCY_ROWS.map((v) => id(v.back)).join(", ")}), each call ` +
      `awaited before the next, and idle (${LATENCY_ROWS.map((v) => id(v.idle)).join(", ")}), ~1 ms of ` +
      "`setTimeout` before each call, so that the process (and cpipe's I/O thread) has gone to sleep when the " +
      `call is made. Each cell is the median over ${samples} samples of the sample's p50 or p99 (lower is ` +
      "better). cpipe pool: `connectPool({ size: 10 })`, `await pool.get(key)`; cpipe sync: `connect()`, " +
      "`r.get(key)`, which returns the value (the peers have no synchronous client); the peers: one " +
      "connection, `await client.get(key)`." +
      (warmColumns
        ? ` The idle columns are a process's first ${calls(id("latencyIdle"))}, whose tail holds the JIT ` +
          `compiling the call path; the warm ones (${warmIds.join(", ")}) its ${calls(warmIds[0]!)}, as a ` +
          "long-running server sees them."
        : ""),
    "",
  );
  out.push(
    row([
      "client",
      "back to back, p50",
      "back to back, p99",
      "idle, p50",
      "idle, p99",
      ...(warmColumns ? ["idle warm, p50", "idle warm, p99"] : []),
    ]),
    row(["---", "---:", "---:", "---:", "---:", ...(warmColumns ? ["---:", "---:"] : [])]),
  );
  for (const { v, client } of rows) {
    const back = t.get(id(v.back), client), idle = t.get(id(v.idle), client);
    const m = back ?? idle;
    if (m === undefined) continue;
    out.push(row([
      CPIPE.includes(client) ? m.label.replace("cpipe", `cpipe ${v.variant}`) : m.label,
      ...latencyCells(back),
      ...latencyCells(idle),
      ...(warmColumns ? latencyCells(t.get(id(v.idle, true), client)) : []),
    ]));
  }
  out.push("");
}

function markdown(r: RunResult, t: Table, rawPath: string, charts: string[]): string {
  const out: string[] = [];
  const ws = throughputWorkloads(r);
  const clients = t.clients();
  const reps = sampleCounts(r.measurements.filter((m) => ws.some((w) => w.id === m.workload)));
  out.push("# cpipe benchmark results", "");
  out.push(
    `Generated by \`make bench\` (\`bench/run.ts\`) on ${r.date.slice(0, 16).replace("T", " ")} UTC in ${
      (r.seconds / 60).toFixed(1)
    } minutes${r.partial ? " — **partial run** (filters or --quick)" : ""}. ` +
      `Load average ${r.loadBefore} before and ${r.loadAfter} after: ` +
      "numbers from a machine that was busy with other work are noisy; compare ratios within one run only.",
    "",
  );
  for (const c of charts) out.push(`![${c.replace(/\.svg$/, "")}](${c})`, "");

  if (ws.length) {
    out.push("## Ratio to redis-benchmark", "");
    out.push(
      "Median throughput of each client divided by redis-benchmark's median for the same workload in the same run " +
        "(higher is better; redis-benchmark's own throughput in the last row).",
      "",
    );
    out.push(row(["client", ...ws.map((w) => w.id)]), row(["---", ...ws.map(() => "---:")]));
    for (const c of clients) {
      out.push(row([
        c.label,
        ...ws.map((w) => {
          const m = t.get(w.id, c.id);
          return ok(m) ? ratio(t.ratio(w.id, c.id, REDIS_BENCHMARK.id)) : why(m);
        }),
      ]));
    }
    if (t.hasBenchmark()) {
      out.push(row(["redis-benchmark, ops/s", ...ws.map((w) => ops(t.median(w.id, REDIS_BENCHMARK.id)))]));
    }
    out.push("");
  }

  const goals = GOALS.filter((g) => ws.some((w) => w.id === g.workload));
  if (goals.length) {
    out.push("## Goals", "");
    out.push(
      row(["goal", "issue", "target", "cpipe (Deno)", "cpipe (Bun)"]),
      row(["---", "---:", "---:", "---:", "---:"]),
    );
    for (const g of goals) {
      const vs = g.vs === REDIS_BENCHMARK.id ? "redis-benchmark" : "Bun RedisClient";
      out.push(row([
        `${g.workload} vs ${vs}`,
        g.issue,
        `≥ ${g.target}×`,
        ...CPIPE.map((id) => {
          const v = t.ratio(g.workload, id, g.vs);
          return Number.isFinite(v) ? `${ratio(v)} ${v >= g.target ? "✅" : "❌"}` : "–";
        }),
      ]));
    }
    out.push(
      "",
      "Issue 3's prototype, for reference: 0.57× redis-benchmark on W2 and 0.87× on a 1M pipeline; " +
        "Bun's RedisClient 0.36× and 0.65×, node-redis 0.15× and 0.34×, ioredis 0.09× and 0.08×.",
      "",
    );
  }

  latencySection(out, r, t, clients);
  out.push(...shapesSection(r.shapes ?? []));

  if (ws.length) {
    out.push("## Each workload", "");
    out.push(
      `Throughput is operations per second per sample; ${reps} timed samples per client after warm-up runs, ` +
        'each client in its own process. "× Bun" is the ratio to Bun\'s RedisClient.',
      "",
    );
  }
  for (const w of ws) {
    out.push(`### ${w.id} — ${w.title}`, "");
    out.push(
      row([
        "client",
        "median ops/s",
        "min – max ops/s",
        "samples",
        "median ms/run",
        "× redis-benchmark",
        "× Bun",
        "server busy",
      ]),
      row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    );
    for (const c of [...clients, REDIS_BENCHMARK]) {
      const m = t.get(w.id, c.id);
      if (m === undefined) continue;
      if (!ok(m)) {
        out.push(row([c.label, why(m), "", "", "", "", "", ""]));
        continue;
      }
      out.push(row([
        c.label,
        ops(median(m.samples)),
        `${ops(Math.min(...m.samples))} – ${ops(Math.max(...m.samples))}`,
        m.samples.length,
        ms(median(m.ms)),
        ratio(t.ratio(w.id, c.id, REDIS_BENCHMARK.id)),
        ratio(t.ratio(w.id, c.id, BUN_CLIENT)),
        busy(m),
      ]));
    }
    out.push("");
  }

  if (ws.some((w) => w.id === "W5")) {
    out.push("## Peak RSS, W5 (1,000,000 HSET in one pipeline)", "");
    out.push(
      "Measured inside each client process from `/proc/self/status`: VmRSS after connecting (before the " +
        "warm-up), and VmHWM (peak) at the end, after the warm-up and every sample.",
      "",
    );
    out.push(row(["client", "RSS after connect", "peak RSS (VmHWM)", "growth"]), row(["---", "---:", "---:", "---:"]));
    for (const c of clients) {
      const m = t.get("W5", c.id);
      if (!ok(m)) continue;
      out.push(row([
        c.label,
        mb(m.rssKb),
        mb(m.peakRssKb),
        m.rssKb && m.peakRssKb ? mb(m.peakRssKb - m.rssKb) : "–",
      ]));
    }
    out.push("");
  }

  for (const [id, points] of Object.entries(r.sweeps)) {
    const sweep = SWEEPS[id as keyof typeof SWEEPS];
    const sizes = [...new Set(points.map((p) => p.size))];
    const ids = [...new Set(points.map((p) => p.m.client))];
    out.push(`## Sweep: ${sweep.title.toLowerCase()}`, "");
    out.push(
      id === "pipeline"
        ? "HSET `words word|i 1` in pipelines of N commands (each awaited before the next pipeline), median ops/s."
        : "Pipelines of 10,000 HSET (three per sample) into a hash pre-filled with N fields (field i mod N), median ops/s. " +
          "Up to 128 fields Redis keeps a hash as a listpack (linear scans); above, as a hash table.",
      "",
    );
    out.push(row(["client", ...sizes.map((s) => s.toLocaleString("en-US"))]), row(["---", ...sizes.map(() => "---:")]));
    for (const cid of ids) {
      const label = points.find((p) => p.m.client === cid)!.m.label;
      out.push(row([
        label,
        ...sizes.map((s) => {
          const m = points.find((p) => p.size === s && p.m.client === cid)?.m;
          return ok(m) ? ops(median(m.samples)) : why(m);
        }),
      ]));
    }
    out.push("");
  }

  out.push("## Versions", "");
  for (const [k, v] of Object.entries(r.versions)) out.push(`- ${k}: ${v}`);
  out.push("", "## Machine", "");
  for (const [k, v] of Object.entries(r.machine)) out.push(`- ${k}: ${v}`);
  out.push(
    `- pinning: ${
      r.pinned
        ? `redis-server on CPU ${r.serverCpu}, every client and redis-benchmark on CPU ${r.clientCpu} (\`taskset\`)`
        : "none (fewer than 2 CPUs)"
    }`,
    "",
  );

  const lat = r.workloads.filter((w) => isLatency(w.kind)).map((w) => w.id);
  const strings = r.workloads.filter((w) => readsStrings(w.kind)).map((w) => w.id);
  const pools = r.workloads.filter((w) => /^pool/.test(w.kind)).map((w) => w.id);
  const interleaved = ws.filter((w) => (w.rounds ?? 1) > 1).map((w) => w.id);
  const rounds = ws.filter((w) => w.rb && w.rb.n > w.n).map((w) =>
    `${w.id}: ${w.rb!.n / w.n} rounds, \`-n ${w.rb!.n}\``
  );
  out.push("## Method", "");
  out.push(
    "- One redis-server for the whole run: `" + r.serverCommand + "`.",
    "- Before every measurement the server is flushed (`FLUSHALL`) and the hash `words` is pre-filled (one Lua " +
      "script) with exactly the fields the workload touches, so every sample of every client updates or reads a " +
      "hash of the same size. Fields are `word|<i>`; redis-benchmark's are `word|<12 digits>` (its " +
      "`__rand_int__`, random in the same range, pre-filled in that spelling), 8 bytes longer per command. " +
      "The pre-fill writes the fields in a scrambled order (i = j × 7919 mod n), so that clients walking " +
      "`word|0`, `word|1`, … do not find the entries in memory order while redis-benchmark's random fields miss " +
      "the cache (with an in-order fill, the server spent ~1.6× less CPU per HSET on W5 for the clients)." +
      (strings.length
        ? ` ${strings.join(", ")} read string keys \`word|<i>\` (value 1) instead: the same script writes them ` +
          "with MSET, in the same order and spellings, and checks their number with DBSIZE."
        : ""),
    "- Each client runs in its own process (fresh JIT, clean RSS): connect, warm-up runs (not timed), then the " +
      "timed samples, a full garbage collection before each (untimed). A sample is the wall time of the whole " +
      "workload, from issuing the first command to having the last reply in JavaScript" +
      (lat.length ? "; the latency workloads also time each call (see Latency)." : "."),
    ...(interleaved.length
      ? [
        `- ${interleaved.join(", ")} ran in parts: each client's samples come from several processes (its ` +
        "part of each round), run in turn with the other clients' (A, B, C, then A, B, C again), so that a " +
        "passing disturbance of this shared VM falls on every client alike instead of on one.",
      ]
      : []),
    '- "server busy": the server\'s CPU time per operation (`INFO cpu` before and after the measurement, ' +
      "warm-up included) times the median throughput. Near 100% the single-threaded server, not the client, " +
      "sets the pace, and no client can go much faster.",
    "- cpipe's synchronous calls spin on the socket for up to 50 µs before sleeping in `poll()` (csrc/conn.c), " +
      "which is why its W1 round trips are shorter than those of event-loop clients, redis-benchmark's included; " +
      "the spinning costs client CPU.",
    ...(rounds.length
      ? [
        "- redis-benchmark's clock ticks in milliseconds, so some of its samples are several rounds of the " +
        `workload (${rounds.join("; ")}) and its throughput is compared per operation.`,
      ]
      : []),
    ...(lat.length
      ? ["- redis-benchmark has no latency rows: its percentiles are taken under its own load (`-c`, `-P`)."]
      : []),
    "- Pipelines: cpipe `addCommand` × N + `execute()`; ioredis `pipeline()` + `exec()`; node-redis and Bun's " +
      "RedisClient issue every command in one tick and `await Promise.all` (their automatic pipelining). " +
      "node-redis runs with `commandOptions.timeout = 0` (its 5 s default per-command timeout fails W5) and its " +
      "pool with `acquireTimeout: 0` (it lends each command a client until the reply; the others wait, and " +
      "with its 3 s default W6 fails).",
    ...(pools.length
      ? [
        `- Pools (${pools.join(", ")}): Bun's RedisClient and ioredis as 10 connections used round-robin; ` +
        "node-redis' `createClientPool` with 10 clients; cpipe's `connectPool({ size: 10 })`." +
        (pools.includes("W6")
          ? " W6 issues its 100,000 GET in one tick and awaits them together, every reply checked; " +
            "redis-benchmark runs 10 clients with pipelines of 1,000 GET of random keys in the same range."
          : ""),
      ]
      : []),
    `- Raw samples of this run: \`${rawPath}\` (not committed; \`bench/raw/\` is git-ignored).`,
    "",
  );

  out.push("## Commands", "");
  out.push(
    "Exactly as run, from the repository root, `$PORT` being the server's port. Each client command prints one " +
      "JSON line per sample.",
    "",
  );
  for (const w of r.workloads) {
    out.push(`${w.id} — ${w.title}:`, "", "```sh");
    for (const m of r.measurements.filter((m) => m.workload === w.id)) out.push(m.command);
    out.push("```", "");
  }
  for (const [id, points] of Object.entries(r.sweeps)) {
    const seen = new Set<string>();
    out.push(`Sweep ${id} (one size shown; the others differ in --n/--batch/--fields or -P/-n/-r):`, "", "```sh");
    const last = points[points.length - 1]?.size;
    for (const p of points) {
      if (p.size !== last || seen.has(p.m.client)) continue;
      seen.add(p.m.client);
      out.push(p.m.command);
    }
    out.push("```", "");
  }
  const failed = [...r.measurements, ...Object.values(r.sweeps).flat().map((p) => p.m)].filter((m) => m.error);
  if (failed.length) {
    out.push("## Failures", "");
    for (const m of failed) out.push(`- ${m.workload} ${m.label}: ${m.error!.split("\n").slice(-2).join(" ")}`);
    out.push("");
  }
  return out.join("\n");
}

function barSvg(r: RunResult, t: Table): string {
  const ws = throughputWorkloads(r);
  const series: Series[] = t.clients().map((c) => ({
    label: c.label,
    color: c.color,
    values: ws.map((w) => {
      const v = t.ratio(w.id, c.id, REDIS_BENCHMARK.id);
      return Number.isFinite(v) ? v : null;
    }),
    missing: ws.map((w) => why(t.get(w.id, c.id)) || null),
  }));
  return barChart({
    title: "cpipe against Bun's RedisClient, ioredis and node-redis",
    subtitle: `Throughput as a multiple of redis-benchmark's (medians of ${
      sampleCounts(r.measurements.filter((m) => ws.some((w) => w.id === m.workload)))
    } runs, higher is better) · server on CPU 0, client on CPU 1 · ${r.date.slice(0, 10)}`,
    yLabel: "× redis-benchmark throughput",
    groups: ws.map((w) => ({
      label: w.id,
      // `short` is missing from the oldest raw files.
      sublabels: [w.short ?? w.id, `1× = ${compact(t.median(w.id, REDIS_BENCHMARK.id))} ops/s`],
    })),
    series,
    reference: { value: 1, label: "redis-benchmark (1×; its ops/s under each group)" },
    format: (v) => v.toFixed(2),
  });
}

function sweepSvg(r: RunResult, id: string): string {
  const points = r.sweeps[id] ?? [];
  const sweep = SWEEPS[id as keyof typeof SWEEPS];
  const sizes = [...new Set(points.map((p) => p.size))];
  const ids = [...new Set(points.map((p) => p.m.client))];
  const series: Series[] = ids.map((cid) => {
    const c = CLIENTS.find((k) => k.id === cid) ?? REDIS_BENCHMARK;
    return {
      label: c.label,
      color: c.color,
      values: sizes.map((s) => {
        const m = points.find((p) => p.size === s && p.m.client === cid)?.m;
        return ok(m) ? median(m.samples) : null;
      }),
    };
  });
  return lineChart({
    title: sweep.title,
    subtitle: `${
      id === "pipeline"
        ? "HSET words word|i 1 in pipelines of N commands"
        : "pipelines of 10,000 HSET into a hash of N fields"
    } · medians of ${sampleCounts(points.map((p) => p.m))} runs · ${r.date.slice(0, 10)}`,
    xLabel: id === "pipeline" ? "pipeline size (commands per round trip)" : "fields in the hash",
    yLabel: id === "pipeline" ? "operations per second (log scale)" : "operations per second",
    xs: sizes,
    xFormat: (v) => v.toLocaleString("en-US"),
    yFormat: compact,
    yLog: id === "pipeline",
    series,
  });
}

/** Writes RESULTS.md and the charts into `dir`; returns the paths written. */
export function writeReport(r: RunResult, dir: string, rawPath: string): string[] {
  const t = new Table(r);
  const files: [string, string][] = [];
  const charts: string[] = [];
  if (throughputWorkloads(r).length && t.hasBenchmark()) {
    files.push(["results.svg", barSvg(r, t)]);
    charts.push("results.svg");
  }
  for (const [id, points] of Object.entries(r.sweeps)) {
    if (!points.length) continue;
    files.push([`sweep-${id}.svg`, sweepSvg(r, id)]);
    charts.push(`sweep-${id}.svg`);
  }
  files.push(["RESULTS.md", markdown(r, t, rawPath, charts)]);
  for (const [name, text] of files) Deno.writeTextFileSync(`${dir}/${name}`, text);
  return files.map(([name]) => `${dir}/${name}`);
}
