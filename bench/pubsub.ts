/**
 * The Pub/Sub benchmark: P1, messages/s one subscriber receives from a flood of pipelined PUBLISH
 * (redis-benchmark, one connection, 100 per round trip) to its channel; P2, publish -> listener latency at 1,000
 * messages/s. Each row is a process of its own (bench/pubsub_client.mjs), rows interleaved over `--rounds`
 * rounds, medians shown. In P1 the subscriber is stopped (SIGSTOP) while the flood is published, and the server
 * keeps it (no output-buffer limit): once it continues, it receives as fast as it can take the messages, and
 * neither the publisher's speed nor the CPU it takes on a small machine is measured. P2 also runs without any
 * client library (client `raw`: two of the runtime's own sockets, under Deno and Bun), the latency every library in
 * that runtime starts from.
 * `deno run -A bench/pubsub.ts [--rounds 3] [--messages 1000000] [--only cpipe,bun]`; with `CPIPE_BASELINE=<checkout>`
 * also that checkout's cpipe (`--only cpipe,cpipe-baseline`).
 */
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { startRedis } from "../tests/harness/server.ts";

const args = typeof Deno !== "undefined" ? Deno.args : (globalThis as unknown as { process: { argv: string[] } })
  .process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1]! : fallback;
};
const rounds = Number(option("rounds", "3"));
const messages = Number(option("messages", "1000000"));
const only = option("only", "").split(",").filter(Boolean);

const bin = fileURLToPath(new URL("../node_modules/.bin/", import.meta.url));
const client = fileURLToPath(new URL("./pubsub_client.mjs", import.meta.url));
interface Row {
  name: string;
  client: string;
  command: string[];
  /** The modes it runs (both when not said). */
  modes?: ("P1" | "P2")[];
}
const rows: Row[] = ([
  { name: "cpipe (Deno)", client: "cpipe", command: [`${bin}deno`, "run", "-A", client] },
  { name: "cpipe (Bun)", client: "cpipe", command: [`${bin}bun`, client] },
  { name: "Bun RedisClient", client: "bun", command: [`${bin}bun`, client] },
  { name: "node-redis (Node)", client: "node-redis", command: ["node", client] },
  { name: "ioredis (Node)", client: "ioredis", command: ["node", client] },
  // No client library: the runtime's own sockets, the floor of P2's latency in each runtime.
  { name: "no client, node:net (Deno)", client: "raw", command: [`${bin}deno`, "run", "-A", client], modes: ["P2"] },
  { name: "no client, node:net (Bun)", client: "raw", command: [`${bin}bun`, client], modes: ["P2"] },
  // With CPIPE_BASELINE=<another checkout>: its cpipe beside this one's, in the same rounds (an A/B of a change).
  ...(Deno.env.get("CPIPE_BASELINE")
    ? [
      { name: "cpipe baseline (Deno)", client: "cpipe-baseline", command: [`${bin}deno`, "run", "-A", client] },
      { name: "cpipe baseline (Bun)", client: "cpipe-baseline", command: [`${bin}bun`, client] },
    ]
    : []),
] as Row[]).filter((row) => only.length === 0 || only.includes(row.client));

// No output-buffer limit: a subscriber slower than the flood must not be disconnected mid-measure.
const server = await startRedis({
  args: ["--client-output-buffer-limit", "pubsub", "0", "0", "0"],
  ...(navigator.hardwareConcurrency >= 2 ? { cpus: "0" } : {}),
});

/** Runs one row; for P1 starts the flood once the subscriber says it is ready. */
function run(row: Row, mode: "P1" | "P2"): Promise<Record<string, number | string>> {
  const [exe, ...rest] = row.command;
  const child = spawn(exe!, [...rest, row.client, String(server.port), mode, String(messages)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "", flood: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (mode === "P1" && out.startsWith("ready\n") && Object.keys(flood).length === 0) {
        flood = { started: 1 };
        process.kill(child.pid!, "SIGSTOP"); // child.kill() only signals once in Deno
        const payload = "m".repeat(16);
        const r = spawnSync("redis-benchmark", [
          "-p",
          String(server.port),
          "-c",
          "1",
          "-P",
          "100",
          "-n",
          String(messages),
          "-q",
          "PUBLISH",
          "p1",
          payload,
        ], { encoding: "utf8" });
        const rate = /([\d.]+) requests per second/.exec(r.stdout.split("\r").at(-1) ?? "")?.[1];
        flood = { publishPerSecond: Math.round(Number(rate)) };
        process.kill(child.pid!, "SIGCONT");
      }
    });
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (code !== 0 || line === undefined) return reject(new Error(`${row.name} ${mode}: exit ${code}\n${out}`));
      resolve({ ...JSON.parse(line), ...flood });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, Record<string, number>[]>();
for (let round = 0; round < rounds; round++) {
  for (const mode of ["P1", "P2"] as const) {
    for (const row of rows) {
      if (row.modes !== undefined && !row.modes.includes(mode)) continue;
      const r = await run(row, mode);
      console.error(`round ${round + 1} ${row.name} ${mode}: ${JSON.stringify(r)}`);
      const key = `${row.name}|${mode}`;
      results.set(key, [...(results.get(key) ?? []), r as Record<string, number>]);
    }
  }
}
await server[Symbol.asyncDispose]();

const versions = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim();
console.log(
  `Pub/Sub benchmark, ${rounds} rounds, medians; ${versions.split(" ").slice(0, 3).join(" ")}; ` +
    `${navigator.hardwareConcurrency} CPUs; load ${
      spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.trim()
    }\n`,
);
console.log("| client | P1 messages/s | P1 flood's PUBLISH/s | P2 p50 µs | P2 p99 µs |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  const p1 = results.get(`${row.name}|P1`), p2 = results.get(`${row.name}|P2`);
  const m = (rs: Record<string, number>[] | undefined, k: string) =>
    rs === undefined ? "—" : median(rs.map((r) => r[k]!)).toLocaleString("en-US");
  console.log(
    `| ${row.name} | ${m(p1, "perSecond")} | ${m(p1, "publishPerSecond")} | ${m(p2, "p50us")} | ${m(p2, "p99us")} |`,
  );
}
