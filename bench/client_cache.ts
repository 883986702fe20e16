/**
 * P3: a GET served by client-side caching against the same GET sent to the server (issue 13's goal: ≥ 20× faster),
 * through the pool, awaited one at a time (a handler reading a hot key) and 10,000 at once. Median of 7 rounds each.
 *
 *   node_modules/.bin/deno run -A bench/client_cache.ts
 *   node_modules/.bin/bun bench/client_cache.ts
 */
import { connectPool, type Pool } from "../mod.ts";
import { startRedis } from "../tests/harness/server.ts";

const ROUNDS = 7;
const SEQUENTIAL = 20_000;
const BURST = 10_000;

await using server = await startRedis(navigator.hardwareConcurrency >= 2 ? { cpus: "0" } : {});
const address = { host: server.host, port: server.port, size: 4 };
await using cached = connectPool({ ...address, clientCache: true });
await using uncached = connectPool({ ...address, protocol: 3 });
await uncached.set("hot", "x".repeat(100));

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1]!;
}

/** Nanoseconds per GET, median of ROUNDS. */
async function measure(pool: Pool, shape: "sequential" | "burst"): Promise<number> {
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    if (shape === "sequential") {
      for (let i = 0; i < SEQUENTIAL; i++) await pool.get("hot");
    } else {
      await Promise.all(Array.from({ length: BURST }, () => pool.get("hot")));
    }
    samples.push((performance.now() - started) * 1e6 / (shape === "sequential" ? SEQUENTIAL : BURST));
  }
  return median(samples);
}

const runtime = "Bun" in globalThis ? "Bun" : "Deno";
console.log(`P3 (${runtime}): a 100-byte GET, cached against sent, ns per call (median of ${ROUNDS})`);
console.log("| shape | cached | sent | ratio |");
console.log("| --- | ---: | ---: | ---: |");
for (const shape of ["sequential", "burst"] as const) {
  await measure(cached, shape); // warm-up: fills the cache, compiles
  await measure(uncached, shape);
  const hit = await measure(cached, shape), miss = await measure(uncached, shape);
  console.log(`| ${shape} | ${hit.toFixed(0)} | ${miss.toFixed(0)} | ${(miss / hit).toFixed(1)}× |`);
}
