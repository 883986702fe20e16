/**
 * The cluster benchmark: a local 3-master cluster (no replicas) and one plain server, every client measured in
 * its own process, one after the other, in the same run: cpipe's cluster pool (Deno, Bun), ioredis' Cluster and
 * node-redis' createCluster (Node), and cpipe's pool on one server for the P10k baseline; for P10k also
 * redis-benchmark (C), across the masters and on the one server, as what the servers give a client that costs
 * next to nothing. Prints a table of
 * medians (ops/s) and cpipe's ratios, then each client's CPU per command and the servers' (from /proc): on a machine
 * whose speed moves from run to run, P10k's ratio moves with it, while what a command costs each side moves less.
 *
 *     deno run -A bench/cluster.ts [W2,W3,W6,P10k] [--pinned]
 *
 * `--pinned` (two CPUs or more) pins the servers to CPU 0 and each client process to CPU 1, as bench/run.ts does:
 * every client then has the same one CPU and never takes the servers'. It also leaves the three masters one CPU
 * between them, so P10k across them cannot be compared with one node as it can unpinned, where the servers may use
 * both CPUs (the default).
 */
import { spawnSync } from "node:child_process";
import { startCluster, startRedis } from "../tests/harness/server.ts";
import { connectClusterPool } from "../cluster.ts";
import { CLUSTER_WORKLOADS, cpuOf, key, KEYS, REPS, ROUNDS } from "./cluster_spec.mjs";

/** The workloads asked for (all when none): the client scripts read them from CLUSTER_ONLY (cluster_spec.mjs). */
const only = (Deno.args.find((a) => !a.startsWith("--")) ?? "").split(",").filter((id) => id !== "");
const pinned = navigator.hardwareConcurrency >= 2 && Deno.args.includes("--pinned");
const SERVER_CPU = "0", CLIENT_CPU = "1";
const unknown = only.filter((id) => !CLUSTER_WORKLOADS.some((w) => w.id === id));
if (unknown.length > 0) throw new Error(`bench/cluster.ts: no workload ${unknown.join(", ")}`);
const workloads = CLUSTER_WORKLOADS.filter((w) => only.length === 0 || only.includes(w.id));
const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`, BUN = `${ROOT}/node_modules/.bin/bun`;

const serverCpus = pinned ? { cpus: SERVER_CPU } : {};
await using cluster = await startCluster({ masters: 3, replicas: 0, ...serverCpus });
await using single = await startRedis(serverCpus);
const port = String(cluster.nodes[0]!.port);
{
  const pool = await connectClusterPool([`redis://127.0.0.1:${port}`]);
  for (let i = 0; i < KEYS; i += 10_000) {
    await Promise.all(Array.from({ length: 10_000 }, (_, k) => pool.set(key(i + k), "1")));
  }
  await pool.close();
}

interface Row {
  client: string;
  workload: string;
  samples: number[];
  /**
   * CPU per command over the samples, µs: the client process', the servers' it used (see cluster_spec.mjs); null
   * where not measured (redis-benchmark's own).
   */
  clientUs: number | null;
  serversUs: number | null;
}
const rows: Row[] = [];
const pidsOf = (servers: { pid: number | undefined }[]) => servers.map((s) => s.pid ?? "").join(",");
function run(label: string, cmd: string, args: string[]): void {
  const servers = label.endsWith("-1node") ? pidsOf([single]) : pidsOf(cluster.nodes);
  const env = { ...Deno.env.toObject(), CLUSTER_ONLY: only.join(","), CLUSTER_SERVER_PIDS: servers };
  const argv = pinned ? ["-c", CLIENT_CPU, cmd, ...args] : args;
  const r = spawnSync(pinned ? "taskset" : cmd, argv, { encoding: "utf8", cwd: ROOT, timeout: 600_000, env });
  if (r.status !== 0) console.error(`${label} failed:\n${r.stdout}${r.stderr}`);
  for (const line of r.stdout.split("\n")) if (line.startsWith("{")) rows.push(JSON.parse(line));
}
const clients: [string, string, string[]][] = [
  ["cpipe-deno", DENO, ["run", "-A", "bench/cluster_cpipe.ts", port]],
  ["cpipe-bun", BUN, ["bench/cluster_cpipe.ts", port]],
  ["ioredis", "node", ["bench/cluster_peers.mjs", "ioredis", port]],
  ["node-redis", "node", ["bench/cluster_peers.mjs", "node-redis", port]],
  ["cpipe-deno-1node", DENO, ["run", "-A", "bench/cluster_cpipe.ts", String(single.port), "single"]],
  ["cpipe-bun-1node", BUN, ["bench/cluster_cpipe.ts", String(single.port), "single"]],
];
/**
 * redis-benchmark on P10k's shape: SET of random keys among KEYS, 10,000 commands in flight, one connection per node
 * (across the masters: 3 connections of 3,334 each; `--cluster` routes each to its node's slots). A sample is one
 * process' requests per second over P10K_BENCHMARK_N commands; the servers' CPU is read from /proc around it.
 */
const P10K_BENCHMARK_N = 300_000;
/** A server redis-benchmark talks to, whose CPU it reads. */
type Server = { pid: number | undefined; port: number };
function runRedisBenchmark(label: string, servers: Server[]): void {
  const nodes = servers.length, pids = servers.map((s) => String(s.pid ?? ""));
  const argv = [
    ...(nodes > 1 ? ["--cluster"] : []),
    ...["-h", "127.0.0.1", "-p", String(servers[0]!.port), "-t", "set", "-r", String(KEYS), "--csv"],
    ...["-c", String(nodes), "-P", String(Math.ceil(10_000 / nodes)), "-n", String(P10K_BENCHMARK_N)],
  ];
  const samples: number[] = [];
  let serversCpu = 0;
  for (let i = 0; i < REPS; i++) {
    const before = cpuOf(pids);
    const r = spawnSync(
      pinned ? "taskset" : "redis-benchmark",
      pinned ? ["-c", CLIENT_CPU, "redis-benchmark", ...argv] : argv,
      {
        encoding: "utf8",
        timeout: 600_000,
      },
    );
    serversCpu += cpuOf(pids) - before;
    const row = r.stdout.split("\n").find((line) => line.startsWith('"SET"'));
    const rps = row === undefined ? NaN : Number(JSON.parse(`[${row}]`)[1]);
    if (r.status !== 0 || !(rps > 0)) return void console.error(`${label} failed:\n${r.stdout}${r.stderr}`);
    samples.push(rps);
  }
  samples.sort((a, b) => a - b);
  rows.push({
    client: label,
    workload: "P10k",
    samples,
    clientUs: null,
    serversUs: serversCpu / (REPS * P10K_BENCHMARK_N),
  });
}
const p10k = workloads.some((w) => w.id === "P10k");
// The one-node clients measure P10k only (its baseline), as redis-benchmark does.
const asked = clients.filter(([label]) => !label.endsWith("-1node") || p10k);
const references: [string, Server[]][] = p10k
  ? [["redis-benchmark", cluster.nodes], ["redis-benchmark-1node", [single]]]
  : [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const [label, cmd, args] of asked) run(label, cmd, args);
  for (const [label, servers] of references) runRedisBenchmark(label, servers);
  console.error(`round ${round} of ${ROUNDS} done`);
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const get = (client: string, workload: string): number | undefined => {
  const samples = rows.filter((r) => r.client === client && r.workload === workload).flatMap((r) => r.samples);
  return samples.length === 0 ? undefined : median(samples);
};
/** The median over a client's processes of its CPU per command on a workload (`of`: the client's or the servers'). */
const cpu = (client: string, workload: string, of: "clientUs" | "serversUs"): number | undefined => {
  const values = rows.filter((r) => r.client === client && r.workload === workload && r[of] !== null)
    .map((r) => r[of]!);
  return values.length === 0 ? undefined : median(values);
};
const us = (v: number | undefined) => v === undefined ? "—" : `${v.toFixed(2)} µs`;
const fmt = (v: number | undefined) => v === undefined ? "failed" : Math.round(v).toLocaleString("en-US");
const ratio = (a: number | undefined, b: number | undefined) => a && b ? `${(a / b).toFixed(2)}×` : "—";
const version = (cmd: string, args: string[]) =>
  spawnSync(cmd, args, { encoding: "utf8" }).stdout.trim().split("\n")[0];
console.log(
  `cluster: 3 masters (redis ${
    version("redis-server", ["--version"])
  }), all on this machine (${navigator.hardwareConcurrency} cores; ${
    pinned ? `servers pinned to CPU ${SERVER_CPU}, each client to CPU ${CLIENT_CPU}` : "not pinned"
  })`,
);
console.log(
  `deno ${version(DENO, ["--version"])}; bun ${version(BUN, ["--version"])}; node ${version("node", ["--version"])}`,
);
console.log(`medians of ${ROUNDS} rounds × ${REPS} samples per client, ops/s; each client in its own process, in turn`);
console.log(
  "\n| workload | cpipe Deno | cpipe Bun | ioredis Cluster | node-redis cluster | Deno / best peer | Bun / best peer |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const w of workloads) {
  const d = get("cpipe-deno", w.id),
    b = get("cpipe-bun", w.id),
    io = get("ioredis", w.id),
    nr = get("node-redis", w.id);
  const best = Math.max(io ?? 0, nr ?? 0) || undefined;
  console.log(
    `| ${w.id}: ${w.title} | ${fmt(d)} | ${fmt(b)} | ${fmt(io)} | ${fmt(nr)} | ${ratio(d, best)} | ${ratio(b, best)} |`,
  );
}
const d1 = get("cpipe-deno-1node", "P10k"), b1 = get("cpipe-bun-1node", "P10k");
if (p10k) {
  console.log(
    `\nP10k across 3 masters vs one node: Deno ${ratio(get("cpipe-deno", "P10k"), d1)} (${
      fmt(d1)
    } ops/s on one node), ` +
      `Bun ${ratio(get("cpipe-bun", "P10k"), b1)} (${fmt(b1)} ops/s on one node); ` +
      `redis-benchmark (C, the same 10,000 commands in flight, one connection per node) ${
        ratio(get("redis-benchmark", "P10k"), get("redis-benchmark-1node", "P10k"))
      } (${fmt(get("redis-benchmark", "P10k"))} / ${fmt(get("redis-benchmark-1node", "P10k"))} ops/s)`,
  );
}
console.log(
  "\nCPU per command over the timed samples (user + system from /proc, medians over the processes): the client " +
    "process (every thread) / the servers it used (the 3 masters, or the one node)",
);
console.log("\n| workload | client | client CPU | servers' CPU |");
console.log("|---|---|---:|---:|");
for (const w of workloads) {
  for (const label of [...asked, ...references].map(([label]) => label)) {
    if (get(label, w.id) === undefined) continue;
    console.log(`| ${w.id} | ${label} | ${us(cpu(label, w.id, "clientUs"))} | ${us(cpu(label, w.id, "serversUs"))} |`);
  }
}
