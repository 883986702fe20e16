/**
 * Makes pools, uses each once, forgets them without close(), collects the
 * garbage, and prints what is left: native threads, descriptors, server
 * connections. Run by forgotten_pool.test.ts (Deno with --expose-gc).
 */
import { readdirSync, readFileSync } from "node:fs";
import { connect, connectPool } from "../../mod.ts";

const port = Number(
  (globalThis as unknown as { Deno?: { args: string[] } }).Deno?.args[0] ??
    (globalThis as unknown as { process: { argv: string[] } }).process.argv[2],
);
/** The pools' I/O threads, by the name the core gives them. */
const threads = () =>
  readdirSync("/proc/self/task").filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === "cpipe-io";
    } catch {
      return false; // ended meanwhile
    }
  }).length;
const fds = () => readdirSync("/proc/self/fd").length;
const admin = connect("127.0.0.1", port);
const clients = () => Number(String(admin.send("INFO", "clients")).match(/connected_clients:(\d+)/)?.[1]);

function gc(): void {
  const g = globalThis as unknown as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else g.gc!();
}

const before = { threads: threads(), fds: fds(), clients: clients() };
async function useAndForget(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const pool = connectPool({ host: "127.0.0.1", port, size: 2 });
    await pool.set(`forgotten:${i}`, "v");
  }
}
await useAndForget(20);
// connectPool() keeps the last pool as the module's default: one more, closed, takes its place.
await connectPool({ host: "127.0.0.1", port, size: 1 }).close();
const used = { threads: threads(), fds: fds(), clients: clients() };
for (let i = 0; i < 50; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 20));
  if (threads() === before.threads && clients() === before.clients) break;
}
const after = { threads: threads(), fds: fds(), clients: clients() };
console.log(JSON.stringify({ before, used, after }));
admin.close();
