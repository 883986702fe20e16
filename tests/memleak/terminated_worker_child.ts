/**
 * Starts a worker whose pool has commands in flight (one of them BLPOP 0),
 * terminates it, and prints what is left once the pool's I/O thread has had
 * time to notice: native threads and server connections. Run by
 * forgotten_pool.test.ts.
 */
import { connect } from "../../mod.ts";
import { ioThreads, port, serverClients } from "./counts.ts";

const admin = connect("127.0.0.1", port);
const clients = () => serverClients(admin);
const threads = ioThreads;

const before = { threads: threads(), clients: clients() };
const worker = new Worker(new URL("../reliability/pool_exit_worker.ts", import.meta.url).href, { type: "module" });
worker.postMessage(port);
await new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
const used = { threads: threads(), clients: clients() };
worker.terminate();
for (let i = 0; i < 250; i++) {
  await new Promise((r) => setTimeout(r, 20));
  if (threads() === before.threads && clients() === before.clients) break;
}
const after = { threads: threads(), clients: clients() };
console.log(JSON.stringify({ before, used, after }));
admin.close();
