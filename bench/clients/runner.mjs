/**
 * The sample loop every client script shares. A client script defines how to
 * connect and one small function per kind of workload; `main` parses the
 * orchestrator's arguments, runs the warm-up and the timed repetitions, and
 * prints one JSON line per sample, then a summary line with the peak RSS.
 * The latency kinds time each call with `timeCalls`; their samples also carry
 * the p50 and p99 of the calls' durations, in µs.
 * Plain JavaScript: runs under Node, Deno and Bun.
 *
 * Arguments: --workload W2 --port P [--host H] [--reps N] [--warmup K]
 * [--warmup-n M] [--kind pipe --n 10000 --batch 10000 --size 1 --fields 10000];
 * the sizes default to the workload's definition in bench/spec.mjs.
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { field, KEY, WORKLOADS } from "../spec.mjs";

/**
 * @typedef {object} Params
 * @property {string} workload
 * @property {import("../spec.mjs").Kind} kind
 * @property {string} host
 * @property {number} port
 * @property {string | undefined} tlsCa PEM file of the CA to verify the server with: connect over TLS (`--tls-ca`)
 * @property {number} n
 * @property {number} batch
 * @property {number} size
 * @property {number} fields
 * @property {number} reps
 * @property {number} warmup
 * @property {number} warmupN
 */

/**
 * One operation set of a client: `open` connects for a workload (a pool for
 * `pool`/`poolSeq`/`poolGet`), each kind runs `n` operations, `close`
 * disconnects. A latency kind returns `timeCalls`' durations. A kind that is
 * missing is reported as skipped with `missing[kind]`.
 * @template C
 * @typedef {object} ClientDef
 * @property {string} name
 * @property {string} version
 * @property {(p: Params) => C | Promise<C>} open
 * @property {(c: C) => unknown} close
 * @property {Partial<Record<import("../spec.mjs").Kind, (c: C, n: number, p: Params) => unknown>>} kinds
 * @property {Partial<Record<import("../spec.mjs").Kind, string>>} [missing]
 */

/**
 * Parses the command line.
 * @param {string[]} argv
 * @returns {Params}
 */
export function parseArgs(argv) {
  /** @type {Record<string, string>} */
  const a = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith("--") || i + 1 >= argv.length) throw new Error(`bad argument ${key}`);
    a[key.slice(2)] = argv[++i];
  }
  const w = WORKLOADS[a.workload];
  if (!w && !a.kind) throw new Error(`unknown workload ${a.workload}; known: ${Object.keys(WORKLOADS).join(", ")}`);
  if (!a.port) throw new Error("--port is required");
  /** @param {string} name @param {number | undefined} fallback */
  const num = (name, fallback) => {
    const v = a[name] !== undefined ? Number(a[name]) : fallback;
    if (v === undefined || !Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number`);
    return v;
  };
  return {
    workload: a.workload ?? a.kind,
    kind: /** @type {import("../spec.mjs").Kind} */ (a.kind ?? w.kind),
    host: a.host ?? "127.0.0.1",
    port: num("port", undefined),
    tlsCa: a["tls-ca"],
    n: num("n", w?.n),
    batch: num("batch", w?.batch ?? 1),
    size: num("size", w?.size ?? 1),
    fields: num("fields", w?.fields ?? 0),
    reps: num("reps", w?.reps ?? 5),
    warmup: num("warmup", w?.warmup ?? 1),
    warmupN: num("warmup-n", w?.warmupN ?? w?.n),
  };
}

/**
 * A field of /proc/self/status in kB (Linux), or null.
 * @param {string} name
 * @returns {number | null}
 */
export function statusKb(name) {
  try {
    const m = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** @returns {string} */
function runtimeName() {
  const g = /** @type {any} */ (globalThis);
  if (g.Deno?.version) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun?.version) return `Bun ${g.Bun.version}`;
  return `Node ${process.versions.node}`;
}

/** A full collection between samples, where the runtime allows it (untimed). */
function collect() {
  const g = /** @type {any} */ (globalThis);
  if (typeof g.Bun?.gc === "function") g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
}

/**
 * Throws unless the condition holds: every kind checks its replies.
 * @param {boolean} ok
 * @param {string} what
 */
export function expect(ok, what) {
  if (!ok) throw new Error(`wrong reply: ${what}`);
}

/** The idleness before each call of the idle latency kinds, in milliseconds. */
const IDLE_MS = 1;

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The latency kinds' loop: n calls one at a time, each timed from just before
 * the call to just after its reply is in JavaScript (after the await; a
 * synchronous client's call returns the reply itself). With `idle`, waits
 * ~1 ms before each call, so that the process goes idle in between. Every
 * reply must be "1".
 * @param {number} n
 * @param {boolean} idle
 * @param {(i: number) => unknown} call
 * @returns {Promise<Float64Array>} each call's duration, milliseconds
 */
export async function timeCalls(n, idle, call) {
  const durations = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (idle) await sleep(IDLE_MS);
    const t0 = performance.now();
    let reply = call(i);
    if (reply instanceof Promise) reply = await reply;
    durations[i] = performance.now() - t0;
    expect(reply === "1", "GET");
  }
  return durations;
}

/**
 * The p-quantile (nearest rank) of durations in milliseconds, in µs.
 * @param {Float64Array} sorted ascending
 * @param {number} q
 */
function quantileUs(sorted, q) {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] * 1000;
}

/**
 * A client made of plain connections, each with promise-returning `hset` and `get`.
 * @typedef {object} Connection
 * @property {(key: string, field: string, value: string) => Promise<unknown>} hset
 * @property {(key: string) => Promise<unknown>} get
 */

/** @param {number} i @param {Params} p */
const fieldOf = (i, p) => field(p.fields > 0 ? i % p.fields : i);

/**
 * The pool and latency kinds of a client made of plain connections (Bun's
 * RedisClient, ioredis): the pool kinds use them round-robin, the latency
 * kinds the first (open one for them).
 * @returns {Record<"pool" | "poolSeq" | "poolGet" | "latency" | "latencyIdle", (c: Connection[], n: number, p: Params) => Promise<unknown>>}
 */
export function roundRobinKinds() {
  return {
    async pool(clients, n, p) {
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), pending = [];
        for (; i < end; i++) pending.push(clients[i % clients.length].hset(KEY, fieldOf(i, p), "1"));
        const replies = await Promise.all(pending);
        expect(typeof replies[replies.length - 1] === "number", "HSET");
      }
    },
    async poolSeq(clients, n, p) {
      /** @param {number} w */
      const worker = async (w) => {
        const r = clients[w % clients.length];
        for (let i = w; i < n; i += p.size) await r.hset(KEY, fieldOf(i, p), "1");
      };
      await Promise.all(Array.from({ length: p.size }, (_, w) => worker(w)));
    },
    async poolGet(clients, n, p) {
      const pending = new Array(n);
      for (let i = 0; i < n; i++) pending[i] = clients[i % clients.length].get(fieldOf(i, p));
      const replies = await Promise.all(pending);
      expect(replies.every((v) => v === "1"), "GET");
    },
    latency: ([r], n, p) => timeCalls(n, false, (i) => r.get(fieldOf(i, p))),
    latencyIdle: ([r], n, p) => timeCalls(n, true, (i) => r.get(fieldOf(i, p))),
  };
}

/** @param {Record<string, unknown>} obj */
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

/**
 * Runs one workload for a client and prints its samples.
 * @template C
 * @param {ClientDef<C>} def
 * @param {string[]} [argv]
 */
export async function main(def, argv = process.argv.slice(2)) {
  const p = parseArgs(argv);
  const run = def.kinds[p.kind];
  const base = { client: def.name, version: def.version, runtime: runtimeName(), workload: p.workload };
  if (!run) {
    emit({ type: "skip", ...base, reason: def.missing?.[p.kind] ?? `${def.name} has no ${p.kind} workload` });
    return;
  }
  const conn = await def.open(p);
  try {
    const rssKb = statusKb("VmRSS");
    for (let i = 0; i < p.warmup; i++) {
      const r = run(conn, p.warmupN, p);
      if (r instanceof Promise) await r;
    }
    for (let rep = 0; rep < p.reps; rep++) {
      collect();
      const t0 = performance.now();
      let r = run(conn, p.n, p);
      if (r instanceof Promise) r = await r;
      const ms = performance.now() - t0;
      if (r instanceof Float64Array) {
        const sorted = r.sort();
        emit({ type: "sample", rep, ops: p.n, ms, p50Us: quantileUs(sorted, 0.5), p99Us: quantileUs(sorted, 0.99) });
      } else emit({ type: "sample", rep, ops: p.n, ms });
    }
    emit({ type: "done", ...base, rssKb, peakRssKb: statusKb("VmHWM") });
  } finally {
    await def.close(conn);
  }
}

/**
 * Version of an installed npm package, read from its package.json.
 * @param {string} name
 * @returns {string}
 */
export function packageVersion(name) {
  try {
    const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, "utf8")).version;
  } catch {
    return "?";
  }
}
