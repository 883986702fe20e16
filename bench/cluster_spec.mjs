/**
 * The cluster benchmark's workloads (bench/cluster.ts runs them), shaped as W2, W3 and W6 of bench/spec.mjs,
 * plus P10k: one 10,000-command pipeline of SETs over keys spread across the masters. Every client script
 * (bench/cluster_cpipe.ts, bench/cluster_peers.mjs) implements `run(kind, n, batch)` and goes through `measure`.
 */

import { readFileSync } from "node:fs";
import process from "node:process";

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

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system, µs) the processes `pids` have used so far, from /proc; 0 for one gone or no /proc. */
export function cpuOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // not there: counted as nothing
    }
  }
  return ticks * 1e6 / TICKS_PER_SECOND;
}

/**
 * Runs `run` WARMUP times, then REPS timed samples; prints one JSON line per workload: ops/s median and samples, and
 * the CPU time per command over the timed samples, the client's (this process, every thread) and the servers' (the
 * pids in CLUSTER_SERVER_PIDS, set by bench/cluster.ts), in µs: on a machine whose speed moves from run to run, the
 * figure that moves least.
 * @param {string} client
 * @param {(w: ClusterWorkload) => Promise<void>} run
 * @param {string[]} only workload ids
 */
export async function measure(client, run, only) {
  // bench/cluster.ts passes the workloads it was asked for, and the servers' pids.
  const asked = (process.env.CLUSTER_ONLY ?? "").split(",").filter((id) => id !== "");
  const servers = (process.env.CLUSTER_SERVER_PIDS ?? "").split(",").filter((pid) => pid !== "");
  for (const w of CLUSTER_WORKLOADS) {
    if (only.length > 0 && !only.includes(w.id)) continue;
    if (asked.length > 0 && !asked.includes(w.id)) continue;
    for (let i = 0; i < WARMUP; i++) await run(w);
    const samples = [];
    const clientBefore = process.cpuUsage(), serversBefore = cpuOf(servers);
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      await run(w);
      samples.push(w.n / ((performance.now() - t) / 1000));
    }
    const clientCpu = process.cpuUsage(clientBefore), serversCpu = cpuOf(servers) - serversBefore;
    const commands = w.n * REPS;
    samples.sort((a, b) => a - b);
    console.log(JSON.stringify({
      client,
      workload: w.id,
      median: samples[samples.length >> 1],
      samples,
      clientUs: (clientCpu.user + clientCpu.system) / commands,
      serversUs: servers.length > 0 ? serversCpu / commands : null,
    }));
  }
}
