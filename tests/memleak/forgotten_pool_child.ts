/**
 * Makes pools, uses each once, forgets them without close(), collects the
 * garbage, and prints what is left: native threads, descriptors, server
 * connections. Run by forgotten_pool.test.ts (Deno with --expose-gc).
 */
import { readdirSync } from "node:fs";
import { connect, connectPool } from "../../mod.ts";
import { ioThreads, port, serverClients } from "./counts.ts";

const fds = () => readdirSync("/proc/self/fd").length;
const admin = connect("127.0.0.1", port);
const clients = () => serverClients(admin);
const threads = ioThreads;

function gc(): void {
  const g = globalThis as unknown as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else g.gc!();
}

const before = { threads: threads(), fds: fds(), clients: clients() };
/** Makes and uses 20 pools, held until counted (a collection meanwhile would free some early), then forgotten. */
async function useAndForget(): Promise<{ threads: number; fds: number; clients: number }> {
  const pools = [];
  for (let i = 0; i < 20; i++) {
    const pool = connectPool({ host: "127.0.0.1", port, size: 2 });
    await pool.set(`forgotten:${i}`, "v");
    pools.push(pool);
  }
  // connectPool() keeps the last pool as the module's default: one more, closed, takes its place.
  await connectPool({ host: "127.0.0.1", port, size: 1 }).close();
  return { threads: threads(), fds: fds(), clients: clients() };
}
const used = await useAndForget();
for (let i = 0; i < 50; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 20));
  if (threads() === before.threads && clients() === before.clients) break;
}
const after = { threads: threads(), fds: fds(), clients: clients() };
console.log(JSON.stringify({ before, used, after }));
admin.close();
