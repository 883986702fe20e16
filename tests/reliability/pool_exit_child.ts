/**
 * Run by pool_exit.test.ts in a child process: uses a pool one way, then
 * lets the process end. Usage: <runtime> pool_exit_child.ts <mode> <port>.
 */
const isDeno = typeof Deno !== "undefined";
const [mode, port] = isDeno
  ? Deno.args
  : (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const exit = (code: number): never => {
  if (isDeno) Deno.exit(code);
  (globalThis as unknown as { process: { exit(code: number): never } }).process.exit(code);
  throw new Error("unreachable");
};

// In "worker" mode only the worker loads the library, so that ending the
// worker unloads it while the pool's thread still runs.
const { connectPool } = mode === "worker" ? { connectPool: null } : await import("../../mod.ts");
const pool = connectPool?.({ port: Number(port), size: 4 })!;
switch (mode) {
  case "close": {
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => pool.set(`exit:${i}`, i)));
    await pool.close();
    break;
  }
  case "idle": {
    // Used, never closed: an idle pool does not keep the process alive.
    await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.get(`exit:${i}`)));
    break;
  }
  case "unused":
    break;
  case "exit-in-flight": {
    // Exits with 100,000 commands in flight.
    for (let i = 0; i < 100_000; i++) pool.set(`exit:${i}`, i).catch(() => {});
    await new Promise((r) => setTimeout(r, 1));
    console.log("done");
    exit(0);
    break;
  }
  case "close-in-flight": {
    const calls = Array.from({ length: 50_000 }, (_, i) => pool.set(`exit:${i}`, i));
    await pool.close();
    await Promise.allSettled(calls);
    break;
  }
  case "pending": {
    // A command in flight keeps the process alive until its reply comes.
    const reply = await pool.send("BLPOP", "exit:never", "0.3");
    if (reply !== null) throw new Error("BLPOP should time out");
    break;
  }
  case "subscribed-close": {
    // Closed with live subscriptions, one of them iterated: the iterator ends, the process too.
    await pool.subscribe("exit:a", () => {});
    const iterated = await pool.psubscribe("exit:*");
    const loop = (async () => {
      for await (const _ of iterated) { /* none come */ }
    })();
    await pool.close();
    await loop;
    break;
  }
  case "unsubscribed": {
    // Never closed: once its last subscription ends, the pool lets the process go.
    const sub = await pool.subscribe(["exit:a", "exit:b"], () => {});
    await sub.unsubscribe();
    break;
  }
  case "subscribed-waits": {
    // A live subscription keeps the process alive until its message comes (published 300 ms later).
    const sub = await pool.subscribe("exit:late", ({ message }) => {
      console.log(`got ${message}`);
      void sub.unsubscribe();
    });
    // Published by another process that nothing here waits for: only the subscription keeps this one alive.
    const { spawn } = await import("node:child_process");
    const script = `sleep 0.3; redis-cli -h 127.0.0.1 -p ${port} publish exit:late it`;
    spawn("sh", ["-c", script], { stdio: "ignore", detached: true }).unref();
    break;
  }
  case "worker": {
    // A worker that uses a pool ends with commands in flight: the library it
    // loaded is unloaded with it, while the pool's thread still runs.
    const url = new URL("./pool_exit_worker.ts", import.meta.url);
    const worker = new Worker(url.href, { type: "module" });
    worker.postMessage(Number(port));
    await new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
    worker.terminate();
    await new Promise((r) => setTimeout(r, 500)); // the orphaned thread wakes up meanwhile
    break;
  }
}
console.log("done");
