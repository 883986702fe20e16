/**
 * What `make bench` measures: the workloads, the clients that run them, the
 * sweeps, and the matching redis-benchmark invocations. Plain JavaScript, so
 * that Node, Deno and Bun read the same definitions.
 *
 * Every throughput workload but W6 writes to (or reads) one hash, `words`,
 * with fields `word|<i>` and value `1`; W6 and the latency workloads read
 * plain string keys `word|<i>` of value `1` instead (see `readsStrings`).
 * Before each client's run the orchestrator flushes the server and pre-fills
 * exactly the fields (or keys) the workload touches, so every sample of every
 * client works on data of the same size. redis-benchmark's are
 * `word|<12-digit i>` (its `__rand_int__`), pre-filled the same way.
 */

/** The hash the HSET and HGET workloads use. */
export const KEY = "words";

/** The field (or string key) for operation i, as the seed writes it. */
export function field(i) {
  return `word|${i}`;
}

/**
 * The kinds of operation a client script implements; a workload is a kind with sizes.
 * - `seq`: n × HSET, each awaited before the next.
 * - `pipe`: n × HSET in pipelines of `batch` commands (one `execute()` per batch).
 * - `hget`: n × HGET in pipelines of `batch`, values returned as strings.
 * - `pool`: n × HSET in rounds of `batch`, each round issued at once over `size` connections and awaited
 *   together before the next.
 * - `poolSeq`: `size` workers, each awaiting its HSET before the next.
 * - `poolGet`: n × GET of string keys issued at once over `size` connections, awaited together.
 * - `latency`: n × GET by one caller, each awaited before the next, every call timed (cpipe: its pool).
 * - `latencyIdle`: the same with ~1 ms of idleness (setTimeout) before each call.
 * - `latencySync`, `latencyIdleSync`: the same two with cpipe's synchronous client (cpipe only).
 * @typedef {"seq" | "pipe" | "hget" | "pool" | "poolSeq" | "poolGet" | LatencyKind} Kind
 * @typedef {"latency" | "latencyIdle" | "latencySync" | "latencyIdleSync"} LatencyKind
 */

/** @type {readonly Kind[]} */
const LATENCY_KINDS = ["latency", "latencyIdle", "latencySync", "latencyIdleSync"];

/**
 * Whether a kind times each call (its samples carry p50 and p99 latencies) rather than measuring throughput.
 * @param {Kind} kind
 * @returns {kind is LatencyKind}
 */
export function isLatency(kind) {
  return LATENCY_KINDS.includes(kind);
}

/**
 * Whether a kind reads string keys `word|<i>` rather than the hash's fields.
 * @param {Kind} kind
 */
export function readsStrings(kind) {
  return kind === "poolGet" || isLatency(kind);
}

/**
 * redis-benchmark's side of a workload: `-c c -P P -n n -r r` with `args`.
 * @typedef {object} BenchmarkRun
 * @property {number} c clients
 * @property {number} P pipeline depth
 * @property {number} n requests per sample
 * @property {string[]} args the command, `__rand_int__` standing for the field number
 */

/**
 * @typedef {object} Workload
 * @property {string} id
 * @property {string} title
 * @property {string} short a label for charts
 * @property {Kind} kind
 * @property {number} n operations per sample
 * @property {number} batch commands per pipeline (`pipe`, `hget`)
 * @property {number} size connections or workers (`pool`, `poolSeq`, `poolGet`); for the latency kinds,
 *   the size of cpipe's pool (the peers make their calls on one connection)
 * @property {number} fields distinct fields (or keys), cycled as i mod fields (also the pre-fill)
 * @property {number} reps timed samples
 * @property {number} [rounds] runs the measurement in this many parts (reps / rounds samples each), every
 *   client's part in turn, so that a passing disturbance of the machine falls on all clients alike (default 1)
 * @property {number} warmup untimed runs before them
 * @property {number} warmupN operations per warm-up run
 * @property {BenchmarkRun | null} rb null for latency workloads: redis-benchmark's latencies are taken
 *   under its own load (-c, -P), not one call at a time, so there is nothing comparable to run
 * @property {string} [note]
 * @property {boolean} [tls] over TLS: the server's TLS port, verified against the test CA (scripts/test-certs.sh)
 * @property {boolean} [warm] a latency workload measured after a warm-up long enough for the JIT to settle, beside
 *   the same kind measured early in a process (the calls a short-lived program or a new server makes first)
 */

const HSET = ["hset", KEY, "word|__rand_int__", "1"];
const HGET = ["hget", KEY, "word|__rand_int__"];
const GET = ["get", "word|__rand_int__"];

/** @type {Record<string, Workload>} */
// Warm-ups are long enough for the JIT of every runtime to settle (a few hundred thousand operations where a
// workload is fast): cpipe encodes and decodes in JavaScript, and a short warm-up measured its compiler, not it.
export const WORKLOADS = {
  W1: {
    id: "W1",
    short: "10k sequential HSET",
    title: "10,000 sequential HSET",
    kind: "seq",
    n: 10_000,
    batch: 1,
    size: 1,
    fields: 10_000,
    reps: 6,
    rounds: 3,
    warmup: 1,
    warmupN: 5_000,
    rb: { c: 1, P: 1, n: 10_000, args: HSET },
  },
  W2: {
    id: "W2",
    short: "10k HSET, 1 pipeline",
    title: "10,000 HSET, one pipeline (ten pipelines per sample)",
    kind: "pipe",
    // Ten pipelines of 10,000 per sample, as redis-benchmark's: one lasts ~10 ms, too short on a busy machine.
    n: 100_000,
    batch: 10_000,
    size: 1,
    fields: 10_000,
    reps: 9,
    rounds: 3,
    warmup: 3,
    warmupN: 50_000,
    rb: { c: 1, P: 10_000, n: 100_000, args: HSET },
  },
  W3: {
    id: "W3",
    short: "10k HSET, pool of 10",
    title: "10,000 HSET at once over a pool of 10 (ten rounds per sample)",
    kind: "pool",
    // Ten rounds of 10,000 per sample: one round lasts ~10 ms, too short on a busy machine.
    n: 100_000,
    batch: 10_000,
    size: 10,
    fields: 10_000,
    reps: 9,
    rounds: 3,
    warmup: 3,
    warmupN: 100_000,
    rb: { c: 10, P: 1_000, n: 100_000, args: HSET },
  },
  W3s: {
    id: "W3s",
    short: "10 workers, 1 in flight each",
    title: "10 workers × sequential HSET (100,000)",
    kind: "poolSeq",
    // 100,000 rather than 10,000: a sample of 10,000 lasted ~70 ms, mostly noise and JIT.
    n: 100_000,
    batch: 1,
    size: 10,
    fields: 100_000,
    reps: 6,
    rounds: 3,
    warmup: 1,
    warmupN: 50_000,
    rb: { c: 10, P: 1, n: 100_000, args: HSET },
  },
  W6: {
    id: "W6",
    short: "100k GET, pool of 10",
    title: "100,000 GET at once over a pool of 10",
    kind: "poolGet",
    n: 100_000,
    batch: 1,
    size: 10,
    fields: 100_000,
    reps: 6,
    rounds: 3,
    warmup: 2,
    warmupN: 100_000,
    rb: { c: 10, P: 1_000, n: 1_000_000, args: GET },
  },
  W4: {
    id: "W4",
    short: "10k HGET, 1 pipeline",
    title: "10,000 HGET, one pipeline (ten pipelines per sample)",
    kind: "hget",
    // Ten pipelines of 10,000 per sample, as redis-benchmark's: one lasts ~10 ms, too short on a busy machine.
    n: 100_000,
    batch: 10_000,
    size: 1,
    fields: 10_000,
    reps: 9,
    rounds: 3,
    warmup: 3,
    warmupN: 50_000,
    rb: { c: 1, P: 10_000, n: 100_000, args: HGET },
  },
  W5: {
    id: "W5",
    short: "1M HSET, 1 pipeline",
    title: "1,000,000 HSET, one execute()",
    kind: "pipe",
    n: 1_000_000,
    batch: 1_000_000,
    size: 1,
    fields: 1_000_000,
    reps: 6,
    rounds: 3,
    warmup: 1,
    warmupN: 300_000,
    rb: { c: 1, P: 100_000, n: 1_000_000, args: HSET },
  },
  // Latency: one GET of `word|0` at a time, every call timed. The `s` workloads are cpipe's
  // synchronous client; the peers have none and report them as skipped.
  L1: {
    id: "L1",
    short: "one GET at a time",
    title: "one GET at a time, back to back (20,000)",
    kind: "latency",
    n: 20_000,
    batch: 1,
    size: 10,
    fields: 1,
    reps: 3,
    rounds: 3,
    warmup: 1,
    warmupN: 5_000,
    rb: null,
  },
  L1s: {
    id: "L1s",
    short: "one GET at a time, sync",
    title: "one GET at a time, back to back, synchronous client (20,000)",
    kind: "latencySync",
    n: 20_000,
    batch: 1,
    size: 1,
    fields: 1,
    reps: 3,
    rounds: 3,
    warmup: 1,
    warmupN: 5_000,
    rb: null,
  },
  L2: {
    id: "L2",
    short: "one GET every millisecond",
    title: "one GET every millisecond (1,000)",
    kind: "latencyIdle",
    n: 1_000,
    batch: 1,
    size: 10,
    fields: 1,
    reps: 3,
    rounds: 3,
    warmup: 1,
    warmupN: 100,
    rb: null,
  },
  L2s: {
    id: "L2s",
    short: "one GET every millisecond, sync",
    title: "one GET every millisecond, synchronous client (1,000)",
    kind: "latencyIdleSync",
    n: 1_000,
    batch: 1,
    size: 1,
    fields: 1,
    reps: 3,
    rounds: 3,
    warmup: 1,
    warmupN: 100,
    rb: null,
  },
};

/**
 * A workload over TLS: the same operations on the same server's TLS port, so that the rows beside the plaintext ones
 * show what TLS costs. redis-benchmark has no row (its TLS build is a different binary's).
 * @param {Workload} w
 * @returns {Workload}
 */
function overTls(w) {
  return { ...w, id: `${w.id}t`, short: `${w.short}, TLS`, title: `${w.title}, over TLS`, tls: true, rb: null };
}
for (const id of ["W2", "W3", "W6"]) WORKLOADS[`${id}t`] = overTls(WORKLOADS[id]);

/**
 * An idle-latency workload measured after 3,000 idle calls: L2 and L2s are each process's first calls, whose tail
 * holds the JIT compiling the call path (on the one CPU the process is pinned to); these show the idle wake-up
 * alone, as a long-running server sees it.
 * @param {Workload} w
 * @returns {Workload}
 */
function warmed(w) {
  const warmup = 3, warmupN = 1_000;
  const after = `after ${(warmup * warmupN).toLocaleString("en-US")} of warm-up`;
  return {
    ...w,
    id: `${w.id}w`,
    short: `${w.short}, warm`,
    title: w.title.replace("every millisecond", `every millisecond ${after}`),
    warm: true,
    warmup,
    warmupN,
  };
}
for (const id of ["L2", "L2s"]) WORKLOADS[`${id}w`] = warmed(WORKLOADS[id]);

/** The order workloads run and appear in. */
export const WORKLOAD_ORDER = [
  "W1",
  "W2",
  "W4",
  "W5",
  "W3",
  "W3s",
  "W6",
  "L1",
  "L1s",
  "L2",
  "L2s",
  "L2w",
  "L2sw",
  "W2t",
  "W3t",
  "W6t",
];

/**
 * @typedef {object} Client
 * @property {string} id
 * @property {string} label
 * @property {"deno" | "bun" | "node"} runtime
 * @property {string} script relative to the repository root
 * @property {string} color for the charts
 */

/** @type {Client[]} */
export const CLIENTS = [
  { id: "cpipe-deno", label: "cpipe (Deno)", runtime: "deno", script: "bench/clients/cpipe.ts", color: "#1f5fbf" },
  { id: "cpipe-bun", label: "cpipe (Bun)", runtime: "bun", script: "bench/clients/cpipe.ts", color: "#6fa8ff" },
  {
    id: "bun-redis",
    label: "Bun RedisClient",
    runtime: "bun",
    script: "bench/clients/bun_redis.ts",
    color: "#e08a1e",
  },
  {
    id: "ioredis-node",
    label: "ioredis (Node)",
    runtime: "node",
    script: "bench/clients/ioredis.mjs",
    color: "#23885a",
  },
  { id: "ioredis-bun", label: "ioredis (Bun)", runtime: "bun", script: "bench/clients/ioredis.mjs", color: "#8dd3a6" },
  {
    id: "node-redis-node",
    label: "node-redis (Node)",
    runtime: "node",
    script: "bench/clients/node_redis.mjs",
    color: "#b8322c",
  },
  {
    id: "node-redis-bun",
    label: "node-redis (Bun)",
    runtime: "bun",
    script: "bench/clients/node_redis.mjs",
    color: "#f2a09b",
  },
];

/**
 * `CPIPE_BASELINE=<a checkout of an earlier cpipe, built>`: that cpipe runs as two more clients beside this one, in
 * the same interleaved rounds, for an A/B of a change (`--clients cpipe-deno,cpipe-deno-baseline,…`).
 */
const baseline = globalThis.Deno?.env.get("CPIPE_BASELINE") ?? globalThis.process?.env?.CPIPE_BASELINE;
if (baseline) {
  const script = `${baseline}/bench/clients/cpipe.ts`;
  CLIENTS.push(
    { id: "cpipe-deno-baseline", label: "cpipe baseline (Deno)", runtime: "deno", script, color: "#6b6b6b" },
    { id: "cpipe-bun-baseline", label: "cpipe baseline (Bun)", runtime: "bun", script, color: "#b0b0b0" },
  );
}

/** redis-benchmark's row in tables and charts. */
export const REDIS_BENCHMARK = { id: "redis-benchmark", label: "redis-benchmark", color: "#555555" };

/** The reference peer for "× Bun" ratios. */
export const BUN_CLIENT = "bun-redis";

/**
 * The two sweeps, each a `pipe` workload at several sizes.
 * - pipeline: n HSET in pipelines of `size` (1 … 100,000), fields all distinct.
 * - hash: pipelines of 10,000 HSET into a hash of `size` fields (pre-filled),
 *   field i mod size: from a tiny listpack-encoded hash to a million fields.
 */
export const SWEEPS = {
  pipeline: {
    id: "pipeline",
    title: "Throughput against pipeline size",
    sizes: [1, 10, 100, 1_000, 10_000, 100_000],
    clients: ["cpipe-deno", "cpipe-bun", "bun-redis", "ioredis-node", "node-redis-node"],
    reps: 3,
    warmup: 1,
  },
  hash: {
    id: "hash",
    title: "Throughput against hash size",
    sizes: [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
    clients: ["cpipe-deno", "cpipe-bun", "bun-redis"],
    reps: 5,
    warmup: 1,
  },
};

/**
 * One point of a sweep as a workload.
 * @param {"pipeline" | "hash"} sweep
 * @param {number} size
 * @returns {Workload}
 */
export function sweepWorkload(sweep, size) {
  const s = SWEEPS[sweep];
  if (sweep === "pipeline") {
    // Enough operations that a sample takes tens of milliseconds at every size.
    const n = size === 1 ? 2_000 : size === 10 ? 10_000 : Math.max(size, 50_000);
    return {
      id: `P${size}`,
      short: `pipelines of ${size}`,
      title: `HSET in pipelines of ${size}`,
      kind: "pipe",
      n,
      batch: size,
      size: 1,
      fields: n,
      reps: s.reps,
      warmup: s.warmup,
      warmupN: Math.min(n, Math.max(size, 1_000)),
      rb: { c: 1, P: size, n: size >= 1_000 ? Math.max(n, 100_000) : n, args: HSET },
    };
  }
  return {
    id: `H${size}`,
    short: `hash of ${size}`,
    title: `10,000 HSET, one pipeline, into a hash of ${size} fields`,
    kind: "pipe",
    // Three pipelines of 10,000 per sample: one alone lasts ~15 ms, too short on a busy machine.
    n: 30_000,
    batch: 10_000,
    size: 1,
    fields: size,
    reps: s.reps,
    warmup: s.warmup,
    warmupN: 10_000,
    rb: { c: 1, P: 10_000, n: 100_000, args: HSET },
  };
}

/**
 * The shapes most programs have (issue 12), measured by bench/shapes.ts beside the peers:
 * - H1, H2: an HTTP cache-aside service (`GET /item/:id`, bench/clients/http_server.ts) under load from autocannon
 *   (bench/load.mjs): H1 issues one GET per request, H2 a pipeline of GET, HGETALL, ZSCORE, INCR and EXPIRE.
 *   The service is pinned to one CPU, Redis and the load generator to the other; each round starts every service
 *   afresh, warms it for `warmup` seconds, then measures `duration` seconds: requests/s, p50 and p99, and the
 *   service's CPU time (user + sys, /proc/<pid>/stat) per request.
 * - C1: the seed's script run once (bench/clients/once.ts): a fresh process connects, issues `n` HSET at once,
 *   awaits them and exits; the process's wall time and the work alone, over `processes` fresh processes each.
 * @typedef {object} Shape
 * @property {string} id
 * @property {string} title
 * @property {"http" | "once"} kind
 * @property {string[]} clients ids in HTTP_CLIENTS (http) or ONCE_CLIENTS (once)
 * @property {number} [connections] autocannon's connections (http)
 * @property {number} [duration] seconds measured per round (http)
 * @property {number} [warmup] seconds of load before each round's measurement (http)
 * @property {number} [rounds] rounds (http), every client's in turn
 * @property {number} [n] HSET per process (once)
 * @property {number} [processes] fresh processes per client (once), interleaved
 */

/**
 * An H shape: the service under 50 connections' load, 3 rounds of 3 s warm-up and 10 s measured.
 * @param {string} id
 * @param {string} title
 * @returns {Shape}
 */
function httpShape(id, title) {
  return {
    id,
    title,
    kind: "http",
    clients: ["cpipe-bun", "bun-redis", "cpipe-deno", "node-redis-deno", "none-bun", "none-deno"],
    connections: 50,
    duration: 10,
    warmup: 3,
    rounds: 3,
  };
}

/** @type {Record<string, Shape>} */
export const SHAPES = {
  H1: httpShape("H1", "HTTP cache-aside service, one GET per request (50 connections)"),
  H2: httpShape("H2", "HTTP cache-aside service, five commands per request (GET, HGETALL, ZSCORE, INCR, EXPIRE)"),
  C1: {
    id: "C1",
    title: "the seed's script run once: a fresh process, 10,000 HSET at once over a pool of 10, exit",
    kind: "once",
    clients: ["cpipe-deno", "cpipe-bun", "bun-redis"],
    n: 10_000,
    processes: 11,
  },
};

/** The order the shapes run and appear in. */
export const SHAPE_ORDER = ["H1", "H2", "C1"];

/**
 * A service of H1/H2: which Redis client the service uses (`--client` of bench/clients/http_server.ts) under which
 * runtime.
 * @typedef {object} ShapeClient
 * @property {string} id
 * @property {string} label
 * @property {"deno" | "bun"} runtime
 * @property {string} client
 * @property {string} [cpipe] a checkout cpipe is imported from (the A/B baseline; C1 under Bun bundles it first)
 */

/** @type {ShapeClient[]} */
export const SHAPE_CLIENTS = [
  { id: "cpipe-bun", label: "cpipe pool (Bun)", runtime: "bun", client: "cpipe" },
  { id: "bun-redis", label: "Bun RedisClient", runtime: "bun", client: "bun-redis" },
  { id: "cpipe-deno", label: "cpipe pool (Deno)", runtime: "deno", client: "cpipe" },
  { id: "node-redis-deno", label: "node-redis (Deno)", runtime: "deno", client: "node-redis" },
  // The floor: the service answering from memory, no Redis client (what the HTTP part alone costs).
  { id: "none-bun", label: "no Redis (Bun)", runtime: "bun", client: "none" },
  { id: "none-deno", label: "no Redis (Deno)", runtime: "deno", client: "none" },
];
if (baseline) {
  SHAPE_CLIENTS.push(
    { id: "cpipe-bun-baseline", label: "cpipe baseline (Bun)", runtime: "bun", client: "cpipe", cpipe: baseline },
    { id: "cpipe-deno-baseline", label: "cpipe baseline (Deno)", runtime: "deno", client: "cpipe", cpipe: baseline },
  );
  for (const id of SHAPE_ORDER) SHAPES[id].clients.push("cpipe-bun-baseline", "cpipe-deno-baseline");
}
