/**
 * The pool's stress run (`make stress`), under Deno or Bun:
 *   1. 10 million completions, every reply checked against its caller;
 *   2. 1,000 pools created and closed: unused, used, closed with commands in
 *      flight, closed before their first reply, with blocking commands;
 *   3. connections killed again and again under load;
 * then native allocations and file descriptors must be back where they
 * started, and memory flat. Any hang trips a watchdog; any crash kills the
 * process. Usage: deno run -A tests/stress/pool_stress.ts | bun tests/stress/pool_stress.ts
 */
import { readdirSync } from "node:fs";
import { startRedis } from "../harness/server.ts";
import { ClosedError, ConnectionError, connectPool, type Pool, ReplyError } from "../../mod.ts";
import { native } from "../../ffi/load.ts";

const isDeno = typeof Deno !== "undefined";
const proc = (globalThis as unknown as {
  process: { exit(code: number): never; memoryUsage(): { rss: number }; versions: Record<string, string> };
}).process;
const runtimeName = isDeno ? `deno ${Deno.version.deno}` : `bun ${proc.versions.bun}`;
const liveAllocations = () => Number(native.cpipe_live_allocations());
const openFds = () => readdirSync("/proc/self/fd").length;
const rssMb = () => Math.round(proc.memoryUsage().rss / 2 ** 20);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS after a full garbage collection (Deno runs this with --expose-gc): what is still held. */
function settledRssMb(): number {
  const g = globalThis as unknown as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
  return rssMb();
}

function fail(message: string): never {
  console.error(`stress (${runtimeName}): FAILED: ${message}`);
  proc.exit(1);
  throw new Error(message);
}

function check(cond: boolean, message: string): void {
  if (!cond) fail(message);
}

/** Settles all, or fails the run when they take longer than `ms` (a hang). */
async function settleAll<T>(promises: Promise<T>[], ms = 60_000): Promise<PromiseSettledResult<T>[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${promises.length} promises did not settle in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.allSettled(promises), hang]);
  } catch (e) {
    fail(String(e));
  } finally {
    clearTimeout(timer);
  }
}

const server = await startRedis();
const watchdog = setTimeout(() => fail("the run took more than 30 minutes (a hang?)"), 30 * 60_000);
const allocs0 = liveAllocations(), fds0 = openFds();
const started = performance.now();
console.log(`stress (${runtimeName}): native allocations ${allocs0}, fds ${fds0}, rss ${rssMb()} MB`);

// ---- 1. ten million completions ------------------------------------------------
{
  const t = performance.now();
  const pool = connectPool({ host: server.host, port: server.port, size: 10 });
  let completions = 0, warmRss = 0;
  // a) 60 rounds of 100,000 concurrent calls of four kinds; memory is
  //    measured after 10 rounds of warm-up and at the end (a soak).
  for (let round = 0; round < 60; round++) {
    if (round === 10) warmRss = settledRssMb();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 25_000; i++) {
      calls.push(pool.send("ECHO", `${round}:${i}`));
      calls.push(pool.incr(`s:n:${i % 100}`));
      calls.push(pool.set(`s:k:${i % 1000}`, i));
      calls.push(pool.get(`s:k:${i % 1000}`));
    }
    const settled = await settleAll(calls);
    for (const [i, s] of settled.entries()) {
      if (s.status !== "fulfilled") fail(`round ${round} call ${i}: ${s.reason}`);
      if (i % 4 === 0) check(s.value === `${round}:${i / 4}`, `round ${round}: ECHO ${i / 4} got ${s.value}`);
    }
    completions += settled.length;
  }
  const soakRss = settledRssMb();
  check(soakRss <= warmRss * 1.1, `rss grew from ${warmRss} MB after warm-up to ${soakRss} MB after 6,000,000 calls`);
  console.log(`  soak: rss ${warmRss} MB after warm-up, ${soakRss} MB after 6,000,000 calls (limit +10%)`);
  // b) 200 callers each awaiting its call before the next: small batches, many ticks.
  const perWorker = 20_000;
  await settleAll(
    Array.from({ length: 200 }, async (_, w) => {
      for (let i = 0; i < perWorker; i++) {
        const reply = await pool.send("ECHO", `${w}.${i}`);
        if (reply !== `${w}.${i}`) fail(`worker ${w} call ${i} got ${reply}`);
      }
    }),
    10 * 60_000,
  );
  completions += 200 * perWorker;
  // c) error replies among successes.
  await pool.set("s:str", "x");
  const mixed = await settleAll(
    Array.from({ length: 10_000 }, (_, i): Promise<unknown> => (i % 2 ? pool.incr("s:str") : pool.ping())),
  );
  mixed.forEach((s, i) =>
    check(i % 2 ? s.status === "rejected" && s.reason instanceof ReplyError : s.status === "fulfilled", `mixed ${i}`)
  );
  completions += mixed.length;
  check(pool.pending === 0, `pending ${pool.pending}`);
  await pool.close();
  const s = (performance.now() - t) / 1000;
  check(completions >= 10_000_000, `only ${completions} completions`);
  console.log(`  ${completions.toLocaleString("en")} completions in ${s.toFixed(1)} s, rss ${rssMb()} MB`);
}

// ---- 2. a thousand pools ---------------------------------------------------------------
{
  const t = performance.now();
  let inFlightClosed = 0;
  for (let i = 0; i < 1000; i++) {
    const pool: Pool = connectPool({ host: server.host, port: server.port, size: 1 + (i % 4), closeTimeout: 2000 });
    switch (i % 5) {
      case 0: // never used
        await pool.close();
        break;
      case 1: { // used, then closed
        const r = await settleAll([pool.set(`p:${i}`, i), pool.get(`p:${i}`), pool.send("BLPOP", "p:q", "0.01")]);
        check(r.every((s) => s.status === "fulfilled"), `pool ${i}: ${JSON.stringify(r)}`);
        await pool.close();
        break;
      }
      case 2: { // closed with commands in flight: they finish
        const calls = Array.from({ length: 2000 }, (_, k) => pool.incr(`p:n:${k % 10}`));
        const closing = pool.close();
        const r = await settleAll(calls);
        check(r.every((s) => s.status === "fulfilled"), `pool ${i}: a call in flight failed at close`);
        await closing;
        inFlightClosed += calls.length;
        break;
      }
      case 3: { // closed at once, before any reply; a blocking command is cancelled
        const calls = [
          ...Array.from({ length: 500 }, () => pool.ping()),
          pool.send("BLPOP", "p:never", "0"),
        ];
        const settled = settleAll(calls); // handlers first: they reject while close() runs
        await pool.close();
        const r = await settled;
        for (const s of r) {
          check(
            s.status === "fulfilled" || s.reason instanceof ClosedError,
            `pool ${i}: ${String((s as PromiseRejectedResult).reason)}`,
          );
        }
        break;
      }
      case 4: { // freed while an exclusive connection is leased and pipelines run
        const c = await pool.acquire();
        const tx = pool.pipeline().addCommand("MULTI").incr("p:tx").addCommand("EXEC").execute();
        const mine = c.send("SELECT", "1");
        const settled = settleAll([tx, mine]);
        await pool.close();
        for (const s of await settled) {
          check(
            s.status === "fulfilled" || s.reason instanceof ClosedError,
            `pool ${i}: ${String((s as PromiseRejectedResult).reason)}`,
          );
        }
        c.release();
        break;
      }
    }
    check(pool.closed, `pool ${i} not closed`);
    if (i % 100 === 99) {
      check(
        liveAllocations() === allocs0,
        `after ${i + 1} pools: ${liveAllocations() - allocs0} native allocations left`,
      );
    }
  }
  const fds = openFds();
  check(fds <= fds0 + 4, `fds ${fds0} -> ${fds}`);
  console.log(
    `  1,000 pools created and closed (${inFlightClosed.toLocaleString("en")} calls in flight at close) in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s, fds ${fds}`,
  );
}

// ---- 3. connections killed under load -----------------------------------------------------
{
  const t = performance.now();
  const pool = connectPool({
    host: server.host,
    port: server.port,
    size: 6,
    name: "stress-kill",
    reconnectMaxDelay: 50,
  });
  let stop = false, kills = 0;
  const killer = (async () => {
    while (!stop) {
      await sleep(25);
      const ids = server.cli("CLIENT", "LIST").split("\n").filter((l) => l.includes(" name=stress-kill "))
        .flatMap((l) => /\bid=(\d+)/.exec(l)?.[1] ?? []);
      const id = ids[kills % ids.length];
      if (id !== undefined) {
        server.cli("CLIENT", "KILL", "ID", id);
        kills++;
      }
    }
  })();
  let ok = 0, failed = 0;
  while (performance.now() - t < 20_000) {
    const calls = Array.from({ length: 5000 }, (_, i) => pool.send("ECHO", `k${i}`));
    const blocking = pool.send("BLPOP", "k:never", "0.05");
    const settled = await settleAll([...calls, blocking]);
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") {
        if (i < calls.length) check(s.value === `k${i}`, `kill loop: call ${i} got ${s.value}`);
        ok++;
      } else {
        check(s.reason instanceof ConnectionError, `kill loop: ${s.reason}`);
        failed++;
      }
    });
  }
  stop = true;
  await killer;
  await pool.close();
  check(ok > 0, "nothing succeeded while connections were killed");
  console.log(
    `  ${kills} connections killed under load: ${ok.toLocaleString("en")} replies, ${
      failed.toLocaleString("en")
    } ConnectionErrors, in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}

// ---- 4. nothing left behind ------------------------------------------------------------------
await sleep(100);
check(liveAllocations() === allocs0, `native allocations ${allocs0} -> ${liveAllocations()}`);
const fds1 = openFds();
check(fds1 <= fds0 + 4, `fds ${fds0} -> ${fds1}`);
clearTimeout(watchdog);
await server[Symbol.asyncDispose]();
console.log(
  `stress (${runtimeName}): passed in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s; native allocations ${liveAllocations()}, fds ${fds1}, rss ${rssMb()} MB`,
);
