/** A worker for pool_exit_child.ts: starts a pool's work and says so, never closing it. */
import { connectPool } from "../../mod.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<number>) => void) | null;
  postMessage(message: unknown): void;
};
scope.onmessage = async (event) => {
  const pool = connectPool({ port: event.data, size: 2, commandTimeout: 100 });
  await pool.ping();
  for (let i = 0; i < 10_000; i++) pool.incr("exit:worker").catch(() => {});
  pool.send("BLPOP", "exit:worker:never", "0").catch(() => {});
  scope.postMessage("started");
};
