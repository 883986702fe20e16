/**
 * `make demo`: the seed's examples, timed, against the redis-server on
 * localhost:6379 — or, when nothing listens there, a throwaway one started
 * for the demo and stopped after it.
 *
 *     deno run -A bench/demo.ts
 *     bun bench/demo.ts          # adds a comparison with Bun's RedisClient
 */
import * as cpipe from "../mod.ts";
import { type RedisServer, startRedis } from "../tests/harness/server.ts";
import { createConnection } from "node:net";
import process from "node:process";

const HOST = "localhost";
const N = 10_000;

/** The pool of issue 4, feature-detected so that the demo runs before and after it exists. */
interface Pool {
  hset(key: string, field: string, value: string): Promise<unknown>;
  close(): unknown;
}
type ConnectPool = (options: { host: string; port: number; size: number }) => Pool;

interface BunRedis {
  connect(): Promise<void>;
  hset(key: string, field: string, value: string): Promise<number>;
  close(): void;
}
const Bun = (globalThis as unknown as { Bun?: { version: string; RedisClient: new (url: string) => BunRedis } }).Bun;

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function ms(t: number): string {
  return `${t.toFixed(t < 10 ? 2 : 1)} ms`;
}

function rate(n: number, t: number): string {
  const v = n / (t / 1000);
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M ops/s` : `${Math.round(v / 1e3)}k ops/s`;
}

/** Runs `fn` `times` times; returns the first and the best duration in ms. */
async function timed(times: number, fn: () => unknown): Promise<{ first: number; best: number }> {
  let first = 0, best = Infinity;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const r = fn();
    if (r instanceof Promise) await r;
    const t = performance.now() - t0;
    if (i === 0) first = t;
    best = Math.min(best, t);
  }
  return { first, best };
}

let server: RedisServer | null = null;
let port = 6379;
if (await listening(HOST, port)) {
  console.log(`Using the redis-server on ${HOST}:${port} (the demo writes the keys "hashmap" and "words").`);
} else {
  // Nothing there: a private server for the demo, on 6379 itself when that port is free.
  server = await startRedis({ port }).catch(() => startRedis());
  port = server.port;
  console.log(`Nothing listens on ${HOST}:6379: started a throwaway redis-server on port ${port}.`);
}

const runtime = Bun ? `Bun ${Bun.version}` : `Deno ${Deno.version.deno}`;
console.log(`cpipe under ${runtime}\n`);

try {
  // (1) connect, hset, hget
  let t0 = performance.now();
  const r = cpipe.connect(HOST, port);
  const tConnect = performance.now() - t0;
  t0 = performance.now();
  r.hset("hashmap", "key", "value");
  const value = r.hget("hashmap", "key");
  const tCalls = performance.now() - t0;
  console.log("1. cpipe.connect, hset, hget");
  console.log(`   ${value}`);
  console.log(`   connect ${ms(tConnect)}, hset + hget ${ms(tCalls)}\n`);

  // (2) the 10,000-command pipeline
  let replies: cpipe.Reply[] = [];
  const pipe = await timed(5, () => {
    for (let i = 0; i < N; i++) r.addCommand("hset", "words", `word|${i}`, "1");
    replies = r.execute();
  });
  console.log(`2. ${N.toLocaleString("en-US")} × addCommand("hset", …) + execute(): one round trip`);
  console.log(`   ${replies.length.toLocaleString("en-US")} replies`);
  console.log(
    `   first run ${ms(pipe.first)}, best of 5 ${ms(pipe.best)} (${rate(N, pipe.best)})\n`,
  );

  // (3) the pool
  const connectPool = (cpipe as unknown as Record<string, unknown>)["connectPool"] as ConnectPool | undefined;
  if ("connectPool" in cpipe && connectPool) {
    const pool = connectPool({ host: HOST, port, size: 10 });
    const poolRun = await timed(5, async () => {
      await Promise.all(Array.from({ length: N }, (_, i) => pool.hset("words", `word|${i}`, "1")));
    });
    await pool.close();
    console.log(`3. connectPool({ size: 10 }) + Promise.all of ${N.toLocaleString("en-US")} pool.hset`);
    console.log(
      `   first run ${ms(poolRun.first)}, best of 5 ${ms(poolRun.best)} (${rate(N, poolRun.best)})\n`,
    );
  } else {
    console.log("3. The pool (connectPool) is not built yet: skipped.\n");
  }
  r.close();

  if (Bun) {
    const bun = new Bun.RedisClient(`redis://${HOST}:${port}`);
    await bun.connect();
    const bunRun = await timed(5, async () => {
      await Promise.all(Array.from({ length: N }, (_, i) => bun.hset("words", `word|${i}`, "1")));
    });
    bun.close();
    console.log(
      `Bun's RedisClient, the same ${N.toLocaleString("en-US")} HSET (auto-pipelined): best of 5 ${ms(bunRun.best)} (${
        rate(N, bunRun.best)
      }); cpipe's pipeline reaches ${(bunRun.best / pipe.best).toFixed(2)}× its throughput.`,
    );
  } else {
    console.log("Run `bun bench/demo.ts` for a comparison with Bun's built-in RedisClient.");
  }
} catch (e) {
  console.error(`demo failed against ${HOST}:${port}: ${e instanceof Error ? e.message : e}`);
  process.exitCode = 1;
} finally {
  if (server) {
    await server[Symbol.asyncDispose]();
    console.log("Stopped the throwaway redis-server.");
  }
}
