/**
 * C1 (bench/shapes.ts): the seed's script, run once in a fresh process: connect a pool of 10, issue `--n` HSET at
 * once, await them, close, exit. Prints `{"type":"once","workMs":…}`: the work alone, from before connecting to
 * after the last reply; the driver times the whole process. cpipe is imported as a user's program gets it: under Bun
 * the npm package's Bun entry (`ffi/bun.bundle.js`, which the driver bundles first with scripts/bundle-bun.ts), under
 * Deno mod.ts.
 *
 *     deno run -A bench/clients/once.ts --client cpipe --port P --n 10000
 *     bun bench/clients/once.ts --client cpipe|bun-redis --port P --n 10000 [--cpipe /other/checkout]
 */
import type * as Cpipe from "../../mod.ts";
import process from "node:process";

interface BunRedisClient {
  connect(): Promise<void>;
  hset(key: string, field: string, value: string): Promise<number>;
  close(): void;
}
const Bun = (globalThis as unknown as { Bun?: { RedisClient: new (url: string) => BunRedisClient } }).Bun;

const a: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) a[argv[i]!.replace(/^--/, "")] = argv[i + 1] ?? "";
const n = Number(a.n ?? 10_000), port = Number(a.port);

let t0: number, replies: unknown[];
if (a.client === "bun-redis") {
  if (!Bun) throw new Error("bun-redis runs under Bun");
  t0 = performance.now();
  const r = new Bun.RedisClient(`redis://127.0.0.1:${port}`);
  await r.connect();
  replies = await Promise.all(Array.from({ length: n }, (_, i) => r.hset("words", `word|${i}`, "1")));
  r.close();
} else {
  const entry = Bun ? "ffi/bun.bundle.js" : "mod.ts";
  const cpipe: typeof Cpipe = await import(a.cpipe ? `${a.cpipe}/${entry}` : `../../${entry}`);
  t0 = performance.now();
  const pool = cpipe.connectPool({ host: "127.0.0.1", port, size: 10 });
  replies = await Promise.all(Array.from({ length: n }, (_, i) => pool.hset("words", `word|${i}`, "1")));
  await pool.close();
}
const workMs = performance.now() - t0;
if (replies.length !== n || typeof replies[n - 1] !== "number") throw new Error("HSET: unexpected replies");
console.log(JSON.stringify({ type: "once", workMs }));
