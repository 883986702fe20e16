/**
 * P3: one awaited GET after another on a pool, from client-side caching (`clientCache`) and from the server,
 * same key, same pool size, in this runtime. `deno run -A bench/cache.ts` / `bun bench/cache.ts` [--seconds 2].
 */
import { connectPool } from "../mod.ts";
import { startRedis } from "../tests/harness/server.ts";

const args = typeof Deno !== "undefined" ? Deno.args : (globalThis as unknown as { process: { argv: string[] } })
  .process.argv.slice(2);
const at = args.indexOf("--seconds");
const seconds = at >= 0 ? Number(args[at + 1]) : 2;
const server = await startRedis(navigator.hardwareConcurrency >= 2 ? { cpus: "0" } : {});
const runtime = typeof Deno !== "undefined"
  ? `Deno ${Deno.version.deno}`
  : `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`;

async function rate(cache: boolean): Promise<number> {
  const pool = connectPool({ host: server.host, port: server.port, size: 1, protocol: 3, clientCache: cache });
  await pool.set("p3", "x".repeat(100));
  for (let i = 0; i < 1000; i++) await pool.get("p3"); // warm-up (and the cache's fill)
  let n = 0;
  const start = performance.now(), stop = start + seconds * 1000;
  while (performance.now() < stop) {
    for (let i = 0; i < 100; i++) await pool.get("p3");
    n += 100;
  }
  const perSecond = n / ((performance.now() - start) / 1000);
  await pool.close();
  return perSecond;
}

const rounds: [number, number][] = [];
for (let round = 0; round < 3; round++) rounds.push([await rate(false), await rate(true)]);
await server[Symbol.asyncDispose]();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
const plain = median(rounds.map(([p]) => p)), cached = median(rounds.map(([, c]) => c));
console.log(
  `P3 (${runtime}): awaited GETs/s, median of 3 rounds of ${seconds} s: from the server ${Math.round(plain)}, ` +
    `cached ${Math.round(cached)}: ${(cached / plain).toFixed(1)}×`,
);
