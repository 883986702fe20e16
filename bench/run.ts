/**
 * `make bench`: starts a private redis-server pinned to CPU 0, runs every
 * workload for cpipe (Deno, Bun), for the peers (Bun's RedisClient; ioredis
 * and node-redis under Node and Bun) and for redis-benchmark (not for the
 * latency workloads, where it has nothing comparable), each measurement in
 * its own process pinned to CPU 1, then the two sweeps; writes
 * bench/RESULTS.md, bench/results.svg, bench/sweep-pipeline.svg,
 * bench/sweep-hash.svg and the raw samples under bench/raw/.
 *
 *     deno run -A bench/run.ts [--quick] [--workloads W1,W2] [--clients cpipe-deno,bun-redis]
 *                              [--no-sweeps] [--sweeps pipeline,hash] [--shapes H1,H2,C1] [--no-shapes]
 *     deno run -A bench/run.ts --only H1,L2     # just these workloads and shapes (make bench ONLY=H1,L2)
 *     deno run -A bench/run.ts --from bench/raw/<stamp>.json   # re-renders a run's report
 *
 * A partial run (any filter or --quick) writes its report under bench/raw/<stamp>/
 * instead of replacing the published one.
 */
import { type RedisServer, startRedis } from "../tests/harness/server.ts";
import { makeCertificates, startTlsRedis, type TestCertificates, type TlsRedisServer } from "../tests/harness/tls.ts";
import {
  type Client,
  CLIENTS,
  isLatency,
  KEY,
  readsStrings,
  REDIS_BENCHMARK,
  SWEEPS,
  sweepWorkload,
  type Workload,
  WORKLOAD_ORDER,
  WORKLOADS,
} from "./spec.mjs";
import { type Measurement, median, type RunResult, writeReport } from "./report.ts";
import { measureShapes } from "./shapes.ts";
import { SHAPE_ORDER } from "./spec.mjs";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const DENO = Deno.env.get("DENO") ?? `${ROOT}/node_modules/.bin/deno`;
const BUN = Deno.env.get("BUN") ?? `${ROOT}/node_modules/.bin/bun`;
const NODE = Deno.env.get("NODE") ?? "node";
/** One measurement may not take longer than this. */
const PROCESS_TIMEOUT_MS = 240_000;

// ---- arguments ----------------------------------------------------------------
function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Deno.args[i + 1];
  return v === undefined || v.startsWith("--") ? "" : v;
}
const known = new Set(["quick", "workloads", "clients", "no-sweeps", "sweeps", "from", "shapes", "no-shapes", "only"]);
for (const a of Deno.args) {
  if (a.startsWith("--") && !known.has(a.slice(2))) {
    console.error(`unknown option ${a}; options: ${[...known].map((k) => `--${k}`).join(" ")}`);
    Deno.exit(2);
  }
}
const from = flag("from");
if (from) {
  const saved = JSON.parse(Deno.readTextFileSync(from)) as RunResult;
  const dir = saved.partial ? from.replace(/\.json$/, "") : `${ROOT}/bench`;
  Deno.mkdirSync(dir, { recursive: true });
  const rel = from.startsWith(ROOT) ? from.slice(ROOT.length + 1) : from;
  for (const f of writeReport(saved, dir, rel)) console.log(`wrote ${f.replace(ROOT + "/", "")}`);
  Deno.exit(0);
}
const quick = flag("quick") !== undefined;
/** `--only`: the workloads and shapes named, nothing else (no sweeps). */
const only = flag("only")?.split(",").filter(Boolean);
const workloadIds = only?.filter((id) => !SHAPE_ORDER.includes(id)) ?? flag("workloads")?.split(",").filter(Boolean) ??
  WORKLOAD_ORDER;
const shapeIds = only?.filter((id) => SHAPE_ORDER.includes(id)) ??
  (flag("no-shapes") !== undefined ? [] : flag("shapes")?.split(",").filter(Boolean) ?? SHAPE_ORDER);
for (const id of shapeIds) if (!SHAPE_ORDER.includes(id)) throw new Error(`unknown shape ${id}`);
const clientIds = flag("clients")?.split(",").filter(Boolean) ?? [...CLIENTS.map((c) => c.id), REDIS_BENCHMARK.id];
const sweepIds = flag("no-sweeps") !== undefined || only
  ? []
  : (flag("sweeps")?.split(",").filter(Boolean) ?? Object.keys(SWEEPS)) as (keyof typeof SWEEPS)[];
const workloads = workloadIds.map((id) => {
  const w = WORKLOADS[id];
  if (!w) throw new Error(`unknown workload ${id}`);
  return w;
});
for (const c of clientIds) {
  if (c !== REDIS_BENCHMARK.id && !CLIENTS.some((k) => k.id === c)) throw new Error(`unknown client ${c}`);
}
for (const s of sweepIds) if (!SWEEPS[s]) throw new Error(`unknown sweep ${s}`);
const partial = quick || flag("workloads") !== undefined || flag("clients") !== undefined ||
  flag("no-sweeps") !== undefined || flag("sweeps") !== undefined || only !== undefined ||
  flag("shapes") !== undefined || flag("no-shapes") !== undefined;

// ---- machine ------------------------------------------------------------------
const cpus = navigator.hardwareConcurrency;
const pinned = cpus >= 2;
const SERVER_CPU = "0", CLIENT_CPU = "1";

function sh(cmd: string, args: string[]): string {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", cwd: ROOT }).outputSync();
    return new TextDecoder().decode(out.stdout).trim() || new TextDecoder().decode(out.stderr).trim();
  } catch {
    return "?";
  }
}

function pkgVersion(name: string): string {
  try {
    return JSON.parse(Deno.readTextFileSync(`${ROOT}/node_modules/${name}/package.json`)).version;
  } catch {
    return "?";
  }
}

function loadavg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

function machine(): Record<string, string> {
  let model = "?", mem = "?";
  try {
    model = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "?";
    const kb = Number(Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s*(\d+)/m)?.[1]);
    mem = `${(kb / 1024 / 1024).toFixed(1)} GiB`;
  } catch { /* not Linux */ }
  return { cpu: model, cores: String(cpus), memory: mem, os: sh("uname", ["-sr"]) };
}

function versions(): Record<string, string> {
  const git = sh("git", ["rev-parse", "--short", "HEAD"]);
  const dirty = sh("git", ["status", "--porcelain", "--", "src", "csrc", "ffi", "mod.ts"]) ? " + local changes" : "";
  const hiredis = Deno.readTextFileSync(`${ROOT}/Makefile`).match(/^HIREDIS_VERSION\s*:=\s*(\S+)/m)?.[1] ?? "?";
  return {
    cpipe: `${JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version} (${git}${dirty}), hiredis ${hiredis}`,
    deno: sh(DENO, ["--version"]).split("\n")[0] ?? "",
    bun: `bun ${sh(BUN, ["--version"])}`,
    node: `node ${sh(NODE, ["--version"])}`,
    "redis-server": sh("redis-server", ["--version"]),
    "redis-benchmark": sh("redis-benchmark", ["--version"]),
    ioredis: pkgVersion("ioredis"),
    "node-redis (redis)": pkgVersion("redis"),
    mitata: pkgVersion("mitata"),
  };
}

// ---- measuring ----------------------------------------------------------------
const started = performance.now();
let done = 0, total = 0;
const errors: string[] = [];

function clock(): string {
  const s = Math.round((performance.now() - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function fmtOps(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0);
}

function progress(m: Measurement): void {
  done++;
  const head = `[${String(done).padStart(3)}/${total} ${clock().padStart(5)}] ${m.workload.padEnd(7)} ${
    m.label.padEnd(18)
  }`;
  if (m.skipped) console.log(`${head} skipped: ${m.skipped}`);
  else if (m.error) console.log(`${head} FAILED: ${m.error.split("\n").slice(-3).join(" | ")}`);
  else if (m.p50Us && m.p99Us) {
    const us = (v: number) => `${v.toFixed(v >= 100 ? 0 : 1)} µs`;
    console.log(
      `${head} p50 ${us(median(m.p50Us))}, p99 ${us(median(m.p99Us))}  (${m.samples.length}×, ${
        m.seconds.toFixed(1)
      } s)`,
    );
  } else {
    const min = Math.min(...m.samples), max = Math.max(...m.samples);
    const rss = m.peakRssKb ? `  peak RSS ${(m.peakRssKb / 1024).toFixed(0)} MB` : "";
    console.log(
      `${head} ${fmtOps(median(m.samples)).padStart(7)} ops/s  (${fmtOps(min)}–${fmtOps(max)}, ${m.samples.length}×, ${
        m.seconds.toFixed(1)
      } s)${rss}`,
    );
  }
}

/**
 * Writes fields 0 … n-1 in a scrambled order (j × 7919 mod n, a permutation), so that the hash's
 * entries do not lie in memory in the order the clients walk them: redis-benchmark's fields are
 * random, and a hash filled in the clients' order would give them a cache advantage. With
 * `strings`, the same names are string keys (MSET) instead of the hash's fields; after FLUSHALL,
 * DBSIZE counts them.
 */
const PREFILL = `local n, padded, strings, args = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3] == '1', {}
local function write()
  if strings then redis.call('MSET', unpack(args)) else redis.call('HSET', KEYS[1], unpack(args)) end
  args = {}
end
for j = 0, n - 1 do
  local i = math.fmod(j * 7919, n)
  args[#args + 1] = padded and string.format('word|%012d', i) or ('word|' .. i)
  args[#args + 1] = '1'
  if #args >= 2000 then write() end
end
if #args > 0 then write() end
if strings then return redis.call('DBSIZE') end
return redis.call('HLEN', KEYS[1])`;

/**
 * Empties the server and writes the fields (or string keys) the workload touches
 * (redis-benchmark's spelling when padded).
 */
function prepare(server: RedisServer, w: Workload, padded: boolean): void {
  server.cli("FLUSHALL");
  const fields = w.fields;
  if (fields <= 0) return;
  const strings = readsStrings(w.kind);
  const got = server.cli("EVAL", PREFILL, "1", KEY, String(fields), padded ? "1" : "0", strings ? "1" : "0");
  if (Number(got) !== fields) throw new Error(`pre-fill of ${fields} ${strings ? "keys" : "fields"} returned ${got}`);
}

/** CPU seconds the server's process has used (INFO cpu: user + sys). */
function serverCpu(server: RedisServer): number {
  const info = server.cli("INFO", "cpu");
  const get = (k: string) => Number(info.match(new RegExp(`^${k}:([\\d.]+)`, "m"))?.[1] ?? NaN);
  return get("used_cpu_user") + get("used_cpu_sys");
}

function pin(argv: string[]): string[] {
  return pinned ? ["taskset", "-c", CLIENT_CPU, ...argv] : argv;
}

function runtimeArgv(c: Client): string[] {
  const script = c.script;
  if (c.runtime === "deno") return [DENO, "run", "-A", "--v8-flags=--expose-gc", script];
  if (c.runtime === "bun") return [BUN, script];
  return [NODE, "--expose-gc", script];
}

/** The command line as a shell would take it, from the repository root, with the port as $PORT. */
function shown(argv: string[]): string {
  return argv.map((a, i) =>
    i > 0 && (argv[i - 1] === "-p" || argv[i - 1] === "--port")
      ? "$PORT"
      : /[|\s"'$]/.test(a)
      ? `'${a.replace(ROOT + "/", "")}'`
      : a.replace(ROOT + "/", "")
  ).join(" ");
}

async function spawn(argv: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error("spawn: no command");
  const t0 = performance.now();
  const out = await new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(PROCESS_TIMEOUT_MS),
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Samples and warm-up runs of one part of a measurement (see `rounds`). */
function reps(w: Workload): { reps: number; warmup: number } {
  const per = Math.ceil(w.reps / (w.rounds ?? 1));
  return quick ? { reps: Math.min(per, 5), warmup: Math.min(w.warmup, 1) } : { reps: per, warmup: w.warmup };
}

/** The TLS port and CA file of a server started for TLS rows. */
function tlsOf(server: RedisServer): { port: number; ca: string } {
  const tls = server as Partial<TlsRedisServer>;
  if (tls.tlsPort === undefined || certs === null) throw new Error("a TLS workload needs the TLS server");
  return { port: tls.tlsPort, ca: `${certs.dir}/ca.crt` };
}

async function measureClient(server: RedisServer, w: Workload, c: Client, sweep?: string): Promise<Measurement> {
  const r = reps(w);
  const args = [
    "--workload",
    w.id,
    "--kind",
    w.kind,
    "--n",
    String(w.n),
    "--batch",
    String(w.batch),
    "--size",
    String(w.size),
    "--fields",
    String(w.fields),
    "--reps",
    String(r.reps),
    "--warmup",
    String(r.warmup),
    "--warmup-n",
    String(w.warmupN),
    "--port",
    String(w.tls ? tlsOf(server).port : server.port),
    ...(w.tls ? ["--tls-ca", tlsOf(server).ca] : []),
  ];
  const argv = pin([...runtimeArgv(c), ...args]);
  const m: Measurement = {
    workload: w.id,
    sweep,
    client: c.id,
    label: c.label,
    ops: w.n,
    samples: [],
    ms: [],
    command: shown(argv),
    seconds: 0,
  };
  try {
    prepare(server, w, false);
    const cpu0 = serverCpu(server);
    const out = await spawn(argv);
    m.seconds = out.seconds;
    m.serverUsPerOp = ((serverCpu(server) - cpu0) * 1e6) / (r.warmup * w.warmupN + r.reps * w.n);
    for (const line of out.stdout.split("\n")) {
      if (!line.startsWith("{")) continue;
      const j = JSON.parse(line);
      if (j.type === "sample") {
        m.ms.push(j.ms);
        m.samples.push(j.ops / (j.ms / 1000));
        if (j.p50Us !== undefined) {
          (m.p50Us ??= []).push(j.p50Us);
          (m.p99Us ??= []).push(j.p99Us);
        }
      } else if (j.type === "skip") m.skipped = j.reason;
      else if (j.type === "done") {
        m.runtime = j.runtime;
        m.version = j.version;
        m.rssKb = j.rssKb ?? undefined;
        m.peakRssKb = j.peakRssKb ?? undefined;
      }
    }
    if (out.code !== 0 || (!m.skipped && m.samples.length !== r.reps)) {
      m.error = `exit ${out.code}: ${out.stderr.trim() || out.stdout.trim()}`.slice(-2000);
    } else if (!m.skipped && isLatency(w.kind) && m.p50Us?.length !== r.reps) {
      m.error = `no latencies in the samples: ${out.stdout.trim()}`.slice(-2000);
    }
  } catch (e) {
    m.error = e instanceof Error ? e.message : String(e);
  }
  if (m.error) errors.push(`${w.id} ${c.label}: ${m.error}`);
  return m;
}

async function measureBenchmark(server: RedisServer, w: Workload, sweep?: string): Promise<Measurement> {
  const r = reps(w);
  const rb = w.rb;
  if (!rb) throw new Error(`${w.id} has no redis-benchmark run`);
  const argv = (n: number) =>
    pin([
      "redis-benchmark",
      "-h",
      "127.0.0.1",
      "-p",
      String(server.port),
      "-c",
      String(rb.c),
      "-P",
      String(rb.P),
      "-n",
      String(n),
      "-r",
      String(w.fields),
      "--csv",
      ...rb.args,
    ]);
  const m: Measurement = {
    workload: w.id,
    sweep,
    client: REDIS_BENCHMARK.id,
    label: REDIS_BENCHMARK.label,
    ops: rb.n,
    samples: [],
    ms: [],
    command: shown(argv(rb.n)),
    seconds: 0,
    runtime: "C",
  };
  try {
    prepare(server, w, true);
    const warmN = Math.max(rb.P * rb.c, Math.min(rb.n, w.warmupN));
    let cpu0 = 0;
    for (let i = -r.warmup; i < r.reps; i++) {
      if (i === 0) cpu0 = serverCpu(server);
      const out = await spawn(argv(i < 0 ? warmN : rb.n));
      m.seconds += out.seconds;
      if (out.code !== 0) throw new Error(`exit ${out.code}: ${out.stderr.trim()}`);
      const row = out.stdout.trim().split("\n").find((l) => l.startsWith(`"${rb.args[0]}`));
      const rps = row ? Number(JSON.parse(`[${row}]`)[1]) : NaN;
      if (!(rps > 0)) throw new Error(`cannot parse redis-benchmark output: ${out.stdout.trim()}`);
      if (i >= 0) {
        m.samples.push(rps);
        m.ms.push((rb.n / rps) * 1000);
      }
    }
    m.serverUsPerOp = ((serverCpu(server) - cpu0) * 1e6) / (r.reps * rb.n);
  } catch (e) {
    m.error = e instanceof Error ? e.message : String(e);
    errors.push(`${w.id} redis-benchmark: ${m.error}`);
  }
  return m;
}

async function measure(server: RedisServer, w: Workload, id: string, sweep?: string): Promise<Measurement> {
  const m = id === REDIS_BENCHMARK.id
    ? await measureBenchmark(server, w, sweep)
    : await measureClient(server, w, CLIENTS.find((c) => c.id === id)!, sweep);
  progress(m);
  return m;
}

// ---- main ---------------------------------------------------------------------
function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d\d\dZ$/, "Z");
}

if (!pinned) console.warn("fewer than 2 CPUs: server and clients are not pinned apart");
for (const tool of ["redis-server", "redis-benchmark", ...(pinned ? ["taskset"] : [])]) {
  if (sh("sh", ["-c", `command -v ${tool}`]) === "") throw new Error(`${tool} is not installed`);
}

/**
 * Every workload × client, but redis-benchmark only where it has a comparable run; a workload
 * of several rounds runs each client's parts in turn (client A, B, …, then A, B, … again).
 */
const plan = workloads.flatMap((w) => {
  const ids = clientIds.filter((c) => c !== REDIS_BENCHMARK.id || w.rb);
  return Array.from({ length: w.rounds ?? 1 }, (_, round) => ids.map((c) => ({ w, c, round }))).flat();
});

/** Adds a later part of a measurement to the first. */
function merge(into: Measurement, part: Measurement): void {
  into.samples.push(...part.samples);
  into.ms.push(...part.ms);
  if (part.p50Us) (into.p50Us ??= []).push(...part.p50Us);
  if (part.p99Us) (into.p99Us ??= []).push(...part.p99Us);
  into.seconds += part.seconds;
  into.peakRssKb = Math.max(into.peakRssKb ?? 0, part.peakRssKb ?? 0) || undefined;
  if (into.serverUsPerOp !== undefined && part.serverUsPerOp !== undefined) {
    into.serverUsPerOp = (into.serverUsPerOp + part.serverUsPerOp) / 2;
  }
  into.skipped ??= part.skipped;
  into.error ??= part.error;
}
const sweepPlan = sweepIds.map((s) => ({
  id: s,
  points: SWEEPS[s].sizes.flatMap((size: number) =>
    [...SWEEPS[s].clients, REDIS_BENCHMARK.id].filter((c) => clientIds.includes(c)).map((c) => ({ size, c }))
  ),
}));
total = plan.length + sweepPlan.reduce((a, s) => a + s.points.length, 0);

const result: RunResult = {
  date: new Date().toISOString(),
  partial,
  quick,
  pinned,
  serverCpu: SERVER_CPU,
  clientCpu: CLIENT_CPU,
  machine: machine(),
  versions: versions(),
  loadBefore: loadavg(),
  loadAfter: "",
  seconds: 0,
  workloads,
  measurements: [],
  sweeps: {},
  shapes: [],
  serverCommand: "",
};

console.log(
  `cpipe benchmark: ${workloadIds.join(" ")} × ${clientIds.length} clients, sweeps: ${sweepIds.join(", ") || "none"}` +
    `, shapes: ${shapeIds.join(" ") || "none"}` +
    ` (${total} measurements${quick ? ", quick" : ""}); load average ${result.loadBefore}`,
);
// TLS rows use the same server's TLS port, certificates made for the run (scripts/test-certs.sh).
const certs: TestCertificates | null = workloads.some((w) => w.tls) ? makeCertificates() : null;
const server = certs
  ? await startTlsRedis(certs, pinned ? { cpus: SERVER_CPU } : {})
  : await startRedis(pinned ? { cpus: SERVER_CPU } : {});
result.serverCommand = `${pinned ? `taskset -c ${SERVER_CPU} ` : ""}redis-server --port $PORT --bind 127.0.0.1 ` +
  `--save '' --appendonly no${
    certs ? " --tls-port $TLS_PORT --tls-cert-file … --tls-auth-clients no (tests/harness/tls.ts)" : ""
  } (tests/harness/server.ts)`;
try {
  for (const { w, c, round } of plan) {
    const m = await measure(server, w, c);
    const first = round > 0 ? result.measurements.find((k) => k.workload === w.id && k.client === c) : undefined;
    if (first) merge(first, m);
    else result.measurements.push(m);
  }
  for (const s of sweepPlan) {
    const points: RunResult["sweeps"][string] = result.sweeps[s.id] = [];
    for (const { size, c } of s.points) {
      points.push({ size, m: await measure(server, sweepWorkload(s.id, size), c, s.id) });
    }
  }
  if (shapeIds.length) {
    result.shapes = await measureShapes(server, {
      only: shapeIds,
      pinned,
      ...(quick ? { rounds: 1, duration: 3, warmup: 1, processes: 5 } : {}),
      log: (line) => console.log(`[${clock().padStart(5)}] ${line}`),
    });
    for (const m of result.shapes) if (m.error) errors.push(`${m.shape} ${m.label}: ${m.error}`);
  }
} finally {
  await server[Symbol.asyncDispose]();
  certs?.remove();
}
result.loadAfter = loadavg();
result.seconds = (performance.now() - started) / 1000;

const id = stamp();
const rawDir = `${ROOT}/bench/raw`;
Deno.mkdirSync(rawDir, { recursive: true });
Deno.writeTextFileSync(`${rawDir}/${id}.json`, JSON.stringify(result, null, 1));
const outDir = partial ? `${rawDir}/${id}` : `${ROOT}/bench`;
Deno.mkdirSync(outDir, { recursive: true });
const written = writeReport(result, outDir, `bench/raw/${id}.json`);
console.log(`\ndone in ${clock()}; raw samples: bench/raw/${id}.json`);
for (const f of written) console.log(`wrote ${f.replace(ROOT + "/", "")}`);
if (errors.length) {
  console.error(`\n${errors.length} measurement(s) failed:\n${errors.join("\n")}`);
  Deno.exit(1);
}
