/**
 * One pool pipeline of 10,000 HSETs on one hash, awaited, again and again, against a server it starts (the shape of
 * W2 without the cluster): prints the median and the 10th percentile of the wall time per pipeline, and the
 * process's CPU time per pipeline (all its threads: JavaScript, the garbage collector's, the pool's I/O thread).
 * For A/B runs, interleave it between two checkouts (or two CPIPE_LIB builds) rather than running one after the other.
 *
 *   node_modules/.bin/deno run -A bench/pool_pipeline.ts [pipelines]
 *   node_modules/.bin/bun bench/pool_pipeline.ts [pipelines]
 */
import process from "node:process";
import { connectPool } from "../mod.ts";
import { startRedis } from "../tests/harness/server.ts";

const COMMANDS = 10_000, WARMUP = 5;
const g = globalThis as { Deno?: { args: string[] } };
const pipelines = Number((g.Deno?.args ?? process.argv.slice(2))[0] ?? 30);

await using server = await startRedis();
const pool = connectPool({ host: server.host, port: server.port, size: 1 });
const key = (i: number) => `word|${i}`;

async function once(): Promise<void> {
  const p = pool.pipeline();
  for (let i = 0; i < COMMANDS; i++) p.hset("words", key(i), "1");
  const replies = await p.execute();
  if (replies.length !== COMMANDS) throw new Error(`${replies.length} replies for ${COMMANDS} commands`);
}

for (let i = 0; i < WARMUP; i++) await once();
const cpu = process.cpuUsage();
const times: number[] = [];
for (let i = 0; i < pipelines; i++) {
  const start = performance.now();
  await once();
  times.push(performance.now() - start);
}
const used = process.cpuUsage(cpu);
await pool.close();
times.sort((a, b) => a - b);
const median = times[times.length >> 1]!, p10 = times[Math.floor(times.length / 10)]!;
console.log(
  `${g.Deno ? "deno" : "bun"}: ${COMMANDS} HSET per pipeline, ${pipelines} pipelines: median ${median.toFixed(2)} ms ` +
    `(${Math.round(COMMANDS / median * 1000).toLocaleString("en-US")} ops/s), p10 ${p10.toFixed(2)} ms, ` +
    `CPU ${((used.user + used.system) / 1000 / pipelines).toFixed(2)} ms per pipeline`,
);
