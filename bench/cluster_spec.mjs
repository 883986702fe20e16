/**
 * The cluster benchmark's workloads (bench/cluster.ts runs them), shaped as W2, W3 and W6 of bench/spec.mjs,
 * plus P10k: one 10,000-command pipeline of SETs over keys spread across the masters. Every client script
 * (bench/cluster_cpipe.ts, bench/cluster_peers.mjs) implements `run(kind, n, batch)` and goes through `measure`.
 */

/** @typedef {{ id: string, title: string, kind: "pipe" | "pool" | "get" | "spread", n: number, batch: number }} ClusterWorkload */

/** @type {ClusterWorkload[]} */
export const CLUSTER_WORKLOADS = [
  { id: "W2", title: "10,000 HSET on one hash, one pipeline (x10)", kind: "pipe", n: 100_000, batch: 10_000 },
  { id: "W3", title: "10,000 HSET on one hash at once (x10)", kind: "pool", n: 100_000, batch: 10_000 },
  { id: "W6", title: "100,000 GET of keys across the slots at once", kind: "get", n: 100_000, batch: 100_000 },
  {
    id: "P10k",
    title: "one pipeline of 10,000 SET across the masters (x10)",
    kind: "spread",
    n: 100_000,
    batch: 10_000,
  },
];

/**
 * Samples per workload and warm-up runs, per process: bench/cluster.ts runs every client ROUNDS times in turn, so
 * that a passing disturbance of the machine falls on all clients alike, and takes the median of all samples.
 */
export const REPS = 3, WARMUP = 1, ROUNDS = 3;

/** Keys W6 reads (pre-filled by the orchestrator) and P10k writes. */
export const KEYS = 100_000;
export const key = (i) => `word|${i}`;

/**
 * Runs `run` WARMUP times, then REPS timed samples; prints one JSON line per workload: ops/s median and samples.
 * @param {string} client
 * @param {(w: ClusterWorkload) => Promise<void>} run
 * @param {string[]} only workload ids
 */
export async function measure(client, run, only) {
  // bench/cluster.ts passes the workloads it was asked for.
  const asked = (globalThis.process?.env?.CLUSTER_ONLY ?? "").split(",").filter((id) => id !== "");
  for (const w of CLUSTER_WORKLOADS) {
    if (only.length > 0 && !only.includes(w.id)) continue;
    if (asked.length > 0 && !asked.includes(w.id)) continue;
    for (let i = 0; i < WARMUP; i++) await run(w);
    const samples = [];
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      await run(w);
      samples.push(w.n / ((performance.now() - t) / 1000));
    }
    samples.sort((a, b) => a - b);
    console.log(JSON.stringify({ client, workload: w.id, median: samples[samples.length >> 1], samples }));
  }
}
