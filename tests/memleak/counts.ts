/** What the memleak children count: the port they were given, cpipe's I/O threads, the server's clients. */
import { readdirSync, readFileSync } from "node:fs";
import type { Client } from "../../mod.ts";

/** The port given as the first argument. */
export const port = Number(
  (globalThis as unknown as { Deno?: { args: string[] } }).Deno?.args[0] ??
    (globalThis as unknown as { process: { argv: string[] } }).process.argv[2],
);

/** The pools' I/O threads in this process, by the name the core gives them. */
export function ioThreads(): number {
  return readdirSync("/proc/self/task").filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === "cpipe-io";
    } catch {
      return false; // ended meanwhile
    }
  }).length;
}

/** The server's connected clients, asked through `admin`. */
export function serverClients(admin: Client): number {
  return Number(String(admin.send("INFO", "clients")).match(/connected_clients:(\d+)/)?.[1]);
}
