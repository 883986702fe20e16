/**
 * The shapes most programs have (issue 12; defined in bench/spec.mjs as SHAPES): an HTTP service (H1, H2) and a
 * script run once (C1), each beside the peers in the same run. `bench/run.ts` runs them after the workloads
 * (`--only H1` runs one alone); alone:
 *
 *     deno run -A bench/shapes.ts [--only H1,C1] [--rounds 1] [--duration 5] [--processes 5]
 *
 * prints each measurement and its command line, and the tables of bench/RESULTS.md's section.
 */
import { type RedisServer, startRedis } from "../tests/harness/server.ts";
// report.ts imports this module too: the cycle is safe, median is only called once both are loaded.
import { median } from "./report.ts";
import { type Shape, SHAPE_CLIENTS, SHAPE_ORDER, type ShapeClient, SHAPES } from "./spec.mjs";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const DENO = Deno.env.get("DENO") ?? `${ROOT}/node_modules/.bin/deno`;
const BUN = Deno.env.get("BUN") ?? `${ROOT}/node_modules/.bin/bun`;
const NODE = Deno.env.get("NODE") ?? "node";
/** The H services run alone on this CPU; Redis and the load generator share the other. */
const SERVICE_CPU = "1", LOAD_CPU = "0";
/** Ids the services read: `item:<id>`, `tags:<id>` and the member `<id>` of `rank`. */
const ITEMS = 1000;

/** One client's figures for one shape: one entry per round (H) or per process (C1). */
export interface ShapeMeasurement {
  shape: string;
  client: string;
  label: string;
  /** H: requests per second, p50 and p99 (ms, autocannon's), the service's CPU per request (µs). */
  rps: number[];
  p50Ms: number[];
  p99Ms: number[];
  cpuUsPerRequest: number[];
  /** C1: the whole process's wall time and the work alone (ms). */
  wallMs: number[];
  workMs: number[];
  /** The command lines, from the repository root ($PORT: Redis', $HTTP: the service's). */
  commands: string[];
  error?: string;
}

export interface ShapeOptions {
  only: string[];
  /** Overrides for a quick look. */
  rounds?: number;
  duration?: number;
  warmup?: number;
  processes?: number;
  pinned: boolean;
  log: (line: string) => void;
}

function shown(argv: string[]): string {
  return argv.map((a) => (/[|\s"'$]/.test(a) ? `'${a}'` : a).replace(ROOT + "/", "")).join(" ");
}

function pin(cpu: string, argv: string[], pinned: boolean): string[] {
  return pinned ? ["taskset", "-c", cpu, ...argv] : argv;
}

const PREFILL = `local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  redis.call('SET', 'item:' .. i, string.rep('v', 100))
  redis.call('HSET', 'tags:' .. i, 'color', 'blue', 'size', 'large', 'shop', 'north')
  redis.call('ZADD', 'rank', i, tostring(i))
end
return redis.call('DBSIZE')`;

function prefill(server: RedisServer): void {
  server.cli("FLUSHALL");
  const got = server.cli("EVAL", PREFILL, "0", String(ITEMS));
  if (Number(got) !== 2 * ITEMS + 1) throw new Error(`pre-fill returned ${got}`);
}

/** CPU seconds a process has used so far (user + sys of every thread). */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}
const TICKS = (() => {
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).outputSync();
    return Number(new TextDecoder().decode(out.stdout).trim()) || 100;
  } catch {
    return 100;
  }
})();

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function runtimeArgv(c: ShapeClient, script: string): string[] {
  return c.runtime === "deno" ? [DENO, "run", "-A", script] : [BUN, script];
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const [command, ...args] = argv;
  const t0 = performance.now();
  const out = await new Deno.Command(command!, { args, cwd: ROOT, stdout: "piped", stderr: "piped" }).output();
  const ms = performance.now() - t0;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr), ms };
}

function jsonLine(stdout: string, type: string): Record<string, number> {
  const line = stdout.split("\n").find((l) => l.startsWith(`{"type":"${type}"`));
  if (line === undefined) throw new Error(`no ${type} line in: ${stdout.trim().slice(-500)}`);
  return JSON.parse(line);
}

/** Starts a service; resolves once it listens, with its process and pid. */
async function startService(argv: string[]): Promise<{ child: Deno.ChildProcess; pid: number; stderr: () => string }> {
  const [command, ...args] = argv;
  const child = new Deno.Command(command!, { args, cwd: ROOT, stdout: "piped", stderr: "piped" }).spawn();
  let err = "";
  void (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (!seen.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the service exited before listening: ${err.trim().slice(-800)}`);
      seen += value;
    }
  } finally {
    clearTimeout(deadline);
  }
  void (async () => {
    while (!(await reader.read()).done) { /* keep its pipe drained */ }
  })();
  // taskset execs the runtime: the child's pid is the service's.
  return { child, pid: child.pid, stderr: () => err };
}

async function httpRound(
  server: RedisServer,
  shape: Shape,
  c: ShapeClient,
  o: ShapeOptions,
  m: ShapeMeasurement,
): Promise<void> {
  const httpPort = freePort();
  const script = `${ROOT}/bench/clients/http_server.ts`;
  const serviceArgv = pin(SERVICE_CPU, [
    ...runtimeArgv(c, script),
    "--client",
    c.client,
    "--shape",
    shape.id,
    "--port",
    String(server.port),
    "--http-port",
    String(httpPort),
    ...(c.cpipe ? ["--cpipe", c.cpipe] : []),
  ], o.pinned);
  const load = (seconds: number) =>
    pin(LOAD_CPU, [
      NODE,
      `${ROOT}/bench/load.mjs`,
      "--url",
      `http://127.0.0.1:${httpPort}`,
      "--connections",
      String(shape.connections ?? 50),
      "--duration",
      String(seconds),
      "--items",
      String(ITEMS),
    ], o.pinned);
  const duration = o.duration ?? shape.duration ?? 10, warmup = o.warmup ?? shape.warmup ?? 3;
  if (m.commands.length === 0) {
    m.commands.push(
      shown(serviceArgv).replace(String(server.port), "$PORT").replace(String(httpPort), "$HTTP"),
      shown(load(duration)).replace(String(httpPort), "$HTTP") + `  (after ${warmup} s of the same, not counted)`,
    );
  }
  prefill(server);
  const service = await startService(serviceArgv);
  try {
    const warm = await run(load(warmup));
    if (warm.code !== 0) throw new Error(`load generator: ${warm.stderr.trim().slice(-500)}`);
    const cpu0 = cpuSeconds(service.pid);
    const out = await run(load(duration));
    const cpu = cpuSeconds(service.pid) - cpu0;
    if (out.code !== 0) throw new Error(`load generator: ${out.stderr.trim().slice(-500)}`);
    const r = jsonLine(out.stdout, "load");
    if (r.errors! > 0 || r.non2xx! > 0 || !(r.requests! > 0)) {
      throw new Error(
        `${r.errors} errors, ${r.non2xx} non-2xx answers of ${r.requests}: ${service.stderr().slice(-500)}`,
      );
    }
    m.rps.push(r.rps!);
    m.p50Ms.push(r.p50Ms!);
    m.p99Ms.push(r.p99Ms!);
    m.cpuUsPerRequest.push((cpu * 1e6) / r.requests!);
  } finally {
    service.child.kill("SIGTERM");
    await service.child.status;
  }
}

/** Bundles the npm package's Bun entries in `checkout` (bench/clients/once.ts imports them under Bun), once per run. */
const bundled = new Set<string>();
async function bundleForBun(checkout: string): Promise<void> {
  if (bundled.has(checkout)) return;
  const out = await run([BUN, `${checkout}/scripts/bundle-bun.ts`]);
  if (out.code !== 0) throw new Error(`bundling ${checkout}'s Bun entries: ${out.stderr.trim().slice(-500)}`);
  bundled.add(checkout);
}

async function onceProcess(server: RedisServer, shape: Shape, c: ShapeClient, o: ShapeOptions, m: ShapeMeasurement) {
  if (c.runtime === "bun" && c.client === "cpipe") await bundleForBun(c.cpipe || ROOT);
  const argv = pin(SERVICE_CPU, [
    ...runtimeArgv(c, `${ROOT}/bench/clients/once.ts`),
    "--client",
    c.client,
    "--port",
    String(server.port),
    "--n",
    String(shape.n ?? 10_000),
    ...(c.cpipe ? ["--cpipe", c.cpipe] : []),
  ], o.pinned);
  if (m.commands.length === 0) m.commands.push(shown(argv).replace(String(server.port), "$PORT"));
  server.cli("DEL", "words");
  const out = await run(argv);
  if (out.code !== 0) throw new Error(`exit ${out.code}: ${out.stderr.trim().slice(-800)}`);
  m.workMs.push(jsonLine(out.stdout, "once").workMs!);
  m.wallMs.push(out.ms);
}

function summary(m: ShapeMeasurement): string {
  if (m.error) return `FAILED: ${m.error.split("\n").slice(-3).join(" | ")}`;
  if (m.rps.length) {
    return `${Math.round(median(m.rps))} req/s, p50 ${median(m.p50Ms)} ms, p99 ${median(m.p99Ms)} ms, ` +
      `${median(m.cpuUsPerRequest).toFixed(1)} µs CPU/request (${m.rps.length} rounds: ` +
      `${m.rps.map((v) => Math.round(v)).join(", ")} req/s)`;
  }
  return `process ${median(m.wallMs).toFixed(1)} ms, work ${
    median(m.workMs).toFixed(1)
  } ms (median of ${m.wallMs.length})`;
}

/** Measures the shapes in `o.only` (all by default) against `server`; logs each measurement as it ends. */
export async function measureShapes(server: RedisServer, o: ShapeOptions): Promise<ShapeMeasurement[]> {
  const results: ShapeMeasurement[] = [];
  for (const id of SHAPE_ORDER.filter((s) => o.only.length === 0 || o.only.includes(s))) {
    const shape = SHAPES[id]!;
    const clients = shape.clients.map((cid) => SHAPE_CLIENTS.find((c) => c.id === cid)!);
    const ms = clients.map((c): ShapeMeasurement => ({
      shape: id,
      client: c.id,
      label: c.label,
      rps: [],
      p50Ms: [],
      p99Ms: [],
      cpuUsPerRequest: [],
      wallMs: [],
      workMs: [],
      commands: [],
    }));
    const turns = shape.kind === "http" ? (o.rounds ?? shape.rounds ?? 3) : (o.processes ?? shape.processes ?? 11);
    o.log(`${id}: ${shape.title}: ${turns} ${shape.kind === "http" ? "rounds" : "processes"} per client, interleaved`);
    // Every client's turn in each round, so that a passing disturbance falls on all alike.
    for (let turn = 0; turn < turns; turn++) {
      for (const [i, c] of clients.entries()) {
        const m = ms[i]!;
        if (m.error) continue;
        try {
          if (shape.kind === "http") await httpRound(server, shape, c, o, m);
          else await onceProcess(server, shape, c, o, m);
        } catch (e) {
          m.error = e instanceof Error ? e.message : String(e);
        }
      }
    }
    for (const m of ms) {
      o.log(`  ${m.label.padEnd(22)} ${summary(m)}`);
      for (const cmd of m.commands) o.log(`    $ ${cmd}`);
    }
    results.push(...ms);
  }
  return results;
}

function ratio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}×` : "–";
}

/** The goals of issue 12, as ratios to Bun's RedisClient in the same run. */
function goals(ms: ShapeMeasurement[]): string[] {
  const get = (shape: string, client: string) => ms.find((m) => m.shape === shape && m.client === client && !m.error);
  const out: string[] = [];
  for (const shape of ["H1", "H2"]) {
    const bun = get(shape, "bun-redis");
    if (!bun) continue;
    for (const client of ["cpipe-bun", "cpipe-deno"]) {
      const m = get(shape, client);
      if (!m) continue;
      const rps = median(m.rps) / median(bun.rps), cpu = median(m.cpuUsPerRequest) / median(bun.cpuUsPerRequest);
      const p99 = median(m.p99Ms) <= median(bun.p99Ms);
      out.push(
        `| ${shape} | ${m.label} | ${ratio(rps)} (≥ 1.2×) ${rps >= 1.2 ? "met" : "**not met**"} | ` +
          `${median(m.p99Ms)} vs ${median(bun.p99Ms)} ms ${p99 ? "met" : "**not met**"} | ` +
          `${ratio(cpu)} (≤ 0.8×) ${cpu <= 0.8 ? "met" : "**not met**"} |`,
      );
    }
  }
  const bun = get("C1", "bun-redis");
  if (bun) {
    for (const client of ["cpipe-bun", "cpipe-deno"]) {
      const m = get("C1", client);
      if (!m) continue;
      const wall = median(bun.wallMs) / median(m.wallMs), work = median(bun.workMs) / median(m.workMs);
      out.push(
        `| C1 | ${m.label} | process ${ratio(wall)}, work ${ratio(work)} (≥ 1.0×) ${
          wall >= 1 && work >= 1 ? "met" : "**not met**"
        } | | |`,
      );
    }
  }
  if (out.length === 0) return [];
  return [
    "| shape | client | speed ÷ Bun's RedisClient | p99 ≤ Bun's | CPU/request ÷ Bun's |",
    "| --- | --- | ---: | ---: | ---: |",
    ...out,
    "",
  ];
}

/** bench/RESULTS.md's section for the shapes. */
export function shapesSection(ms: ShapeMeasurement[]): string[] {
  if (ms.length === 0) return [];
  const out = ["## Where users are: a web service and a script run once (issue 12)", ""];
  out.push(
    "H1 and H2: an HTTP cache-aside service (`GET /item/:id`) under autocannon's load, 50 connections; the " +
      `service pinned to CPU ${SERVICE_CPU}, Redis and the load generator to CPU ${LOAD_CPU}. Every round starts ` +
      "each service afresh, warms it up, then measures; each cell is the median over the rounds. CPU/request is " +
      "the service process's user + sys time (/proc/<pid>/stat, every thread) over the measured window divided " +
      "by the requests served. C1: the seed's script in a fresh process each time (connect a pool of 10, 10,000 " +
      "HSET at once, await, close, exit), the whole process's wall time and the work alone (from before " +
      "connecting to the last reply), medians over the processes; cpipe is imported as the npm package gives it (under " +
      "Bun its bundled Bun entry, under Deno mod.ts). The single-call latencies (idle and back to " +
      "back) are in the Latency section (L1, L1s, L2, L2s, L2w, L2sw).",
    "",
  );
  for (const id of SHAPE_ORDER) {
    const rows = ms.filter((m) => m.shape === id);
    if (rows.length === 0) continue;
    const shape = SHAPES[id]!;
    out.push(`### ${id} — ${shape.title}`, "");
    if (shape.kind === "http") {
      out.push(
        "| service | requests/s | p50 | p99 | CPU/request | rounds (requests/s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
      );
      for (const m of rows) {
        if (m.error) out.push(`| ${m.label} | failed: ${m.error.split("\n")[0]!.slice(0, 200)} | | | | |`);
        else {
          out.push(
            `| ${m.label} | ${Math.round(median(m.rps)).toLocaleString("en-US")} | ${median(m.p50Ms)} ms | ${
              median(m.p99Ms)
            } ms | ${median(m.cpuUsPerRequest).toFixed(1)} µs | ${m.rps.map((v) => Math.round(v)).join(", ")} |`,
          );
        }
      }
    } else {
      out.push("| client | process (wall) | work alone | processes |", "| --- | ---: | ---: | ---: |");
      for (const m of rows) {
        if (m.error) out.push(`| ${m.label} | failed: ${m.error.split("\n")[0]!.slice(0, 200)} | | |`);
        else {
          out.push(
            `| ${m.label} | ${median(m.wallMs).toFixed(1)} ms | ${
              median(m.workMs).toFixed(1)
            } ms | ${m.wallMs.length} |`,
          );
        }
      }
    }
    out.push("", "Commands:", "");
    for (const m of rows) for (const cmd of m.commands) out.push(`    ${cmd}`);
    out.push("");
  }
  const g = goals(ms);
  if (g.length) out.push("### Goals of issue 12", "", ...g);
  return out;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i < 0 ? undefined : Deno.args[i + 1];
  };
  const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));
  const pinned = navigator.hardwareConcurrency >= 2;
  const server = await startRedis(pinned ? { cpus: LOAD_CPU } : {});
  try {
    const ms = await measureShapes(server, {
      only: arg("only")?.split(",").filter(Boolean) ?? [],
      rounds: num("rounds"),
      duration: num("duration"),
      warmup: num("warmup"),
      processes: num("processes"),
      pinned,
      log: (line) => console.log(line),
    });
    console.log("\n" + shapesSection(ms).join("\n"));
  } finally {
    await server[Symbol.asyncDispose]();
  }
}
