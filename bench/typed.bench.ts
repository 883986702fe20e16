/**
 * Typed methods against `send` / `addCommand`, per call, on a private redis-server: the W2 and W4 shapes (10,000
 * commands in one pipeline of the sync client; 10,000 commands issued in one tick on the pool) and single sync
 * calls. Both sides of a pipeline case build a new `r.pipeline()` (one `addCommand`s, one typed methods), so that
 * only the call differs. Each pair sends the same command both ways: HSET and HGET through the hand-written methods, HSETNX and
 * HEXISTS through generated ones (src/command_methods.ts). Rounds interleave the variants; the median per round
 * and the ratio typed / send are printed (below 1: the typed call is cheaper).
 *
 *   node_modules/.bin/deno run -A bench/typed.bench.ts [rounds=15]
 *   node_modules/.bin/bun bench/typed.bench.ts [rounds=15]
 */
import { connect, connectPool } from "../mod.ts";
import { startRedis } from "../tests/harness/server.ts";

const rounds = Number((globalThis as { Deno?: { args: string[] } }).Deno?.args[0] ?? process.argv[2] ?? 15);
const N = 10_000;
const server = await startRedis();
const r = connect(server.host, server.port);
const pool = connectPool({ host: server.host, port: server.port, size: 4 });
const fields = Array.from({ length: N }, (_, i) => `f${i}`);
const KEY = "typed:h";
r.hset(KEY, Object.fromEntries(fields.map((f) => [f, "1"])));

type Case = [name: string, send: () => unknown, typed: () => unknown];
const cases: Case[] = [
  ["W2 sync pipeline HSET (hand-written)", () => {
    const p = r.pipeline();
    for (const f of fields) p.addCommand("hset", KEY, f, "1");
    return p.execute();
  }, () => {
    const p = r.pipeline();
    for (const f of fields) p.hset(KEY, f, "1");
    return p.execute();
  }],
  ["W2 sync pipeline HSETNX (generated)", () => {
    const p = r.pipeline();
    for (const f of fields) p.addCommand("hsetnx", KEY, f, "1");
    return p.execute();
  }, () => {
    const p = r.pipeline();
    for (const f of fields) p.hsetnx(KEY, f, "1");
    return p.execute();
  }],
  ["W4 sync pipeline HGET (hand-written)", () => {
    const p = r.pipeline();
    for (const f of fields) p.addCommand("hget", KEY, f);
    return p.execute();
  }, () => {
    const p = r.pipeline();
    for (const f of fields) p.hget(KEY, f);
    return p.execute();
  }],
  ["W4 sync pipeline HEXISTS (generated)", () => {
    const p = r.pipeline();
    for (const f of fields) p.addCommand("hexists", KEY, f);
    return p.execute();
  }, () => {
    const p = r.pipeline();
    for (const f of fields) p.hexists(KEY, f);
    return p.execute();
  }],
  [
    "W2 pool, one tick, HSETNX (generated)",
    () => Promise.all(fields.map((f) => pool.send("HSETNX", KEY, f, "1"))),
    () => Promise.all(fields.map((f) => pool.hsetnx(KEY, f, "1"))),
  ],
  [
    "W4 pool, one tick, HEXISTS (generated)",
    () => Promise.all(fields.map((f) => pool.send("HEXISTS", KEY, f))),
    () => Promise.all(fields.map((f) => pool.hexists(KEY, f))),
  ],
  // Queueing alone (discarded, nothing sent): the per-call cost without the round trip's noise.
  ["queue 10,000 HEXISTS, no round trip (generated)", () => {
    const p = r.pipeline();
    for (const f of fields) p.addCommand("hexists", KEY, f);
    p.discard();
  }, () => {
    const p = r.pipeline();
    for (const f of fields) p.hexists(KEY, f);
    p.discard();
  }],
  ["queue 10,000 XINFO STREAM, no round trip (generated subcommand)", () => {
    const p = r.pipeline();
    for (const f of fields) p.addCommand("XINFO", "STREAM", f);
    p.discard();
  }, () => {
    const p = r.pipeline();
    for (const f of fields) p.xinfoStream(f);
    p.discard();
  }],
  ["1,000 sync calls HEXISTS (generated)", () => {
    for (let i = 0; i < 1_000; i++) r.send("HEXISTS", KEY, fields[i]!);
  }, () => {
    for (let i = 0; i < 1_000; i++) r.hexists(KEY, fields[i]!);
  }],
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const runtime = "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`;
console.log(`${runtime}, redis-server on ${server.host}:${server.port}, ${rounds} rounds (after 2 of warm-up)`);
console.log("| case | send ms (median) | typed ms (median) | typed / send |");
console.log("|---|---|---|---|");
for (const [name, send, typed] of cases) {
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < rounds + 2; i++) {
    // Alternating which goes first, so that neither always follows the other.
    const order = i % 2 === 0 ? [0, 1] as const : [1, 0] as const;
    for (const which of order) {
      const t0 = performance.now();
      await (which === 0 ? send() : typed());
      if (i >= 2) times[which].push(performance.now() - t0);
    }
  }
  const [s, t] = [median(times[0]), median(times[1])];
  console.log(`| ${name} | ${s.toFixed(2)} | ${t.toFixed(2)} | ${(t / s).toFixed(3)} |`);
}
r.close();
await pool.close();
await server[Symbol.asyncDispose]();
