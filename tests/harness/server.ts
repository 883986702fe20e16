/**
 * Starts a private redis-server on a free loopback port for a test file or a
 * benchmark, and always stops it. Works under Deno, Bun and Node.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** Path of the server's unix socket. */
  readonly socket: string;
  /** Runs redis-cli against this server and returns its output. */
  cli(...args: string[]): string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop` or a crash). */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ServerOptions {
  /** Extra `redis-server` arguments, e.g. `["--requirepass", "secret"]`. */
  args?: string[];
  /** Pin the server to these CPUs with taskset (benchmarks). */
  cpus?: string;
  /** A fixed port instead of a free one. */
  port?: number;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function startRedis(options: ServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), "cpipe-redis-"));
  const socket = join(dir, "redis.sock");
  const argv = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--unixsocket",
    socket,
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--protected-mode",
    "no",
    "--enable-debug-command",
    "yes",
    ...(options.args ?? []),
  ];
  let child: ChildProcess | null = null;
  let output = "";
  const cli = (...args: string[]): string => {
    const at = options.args?.indexOf("--requirepass") ?? -1;
    const password = at < 0 ? undefined : options.args?.[at + 1];
    const auth = password === undefined ? [] : ["-a", password, "--no-auth-warning"];
    const r = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...auth, ...args], { encoding: "utf8" });
    return (r.stdout ?? "").trim();
  };

  const launch = async (): Promise<void> => {
    const [cmd, args] = options.cpus
      ? ["taskset", ["-c", options.cpus, "redis-server", ...argv]]
      : ["redis-server", argv];
    output = "";
    const proc = spawn(cmd as string, args as string[], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout?.on("data", (d) => (output += d));
    proc.stderr?.on("data", (d) => (output += d));
    child = proc;
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) break;
      const r = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "ping"], { encoding: "utf8" });
      const reply = (r.stdout ?? "").trim();
      if (reply === "PONG" || reply.startsWith("NOAUTH") || reply.includes("AUTH")) return;
      await sleep(25);
    }
    proc.kill("SIGKILL");
    throw new Error(`redis-server did not start on port ${port}:\n${output}`);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (proc.exitCode === null) proc.kill("SIGKILL");
  };

  await launch();
  return {
    host: "127.0.0.1",
    port,
    socket,
    cli,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    [Symbol.asyncDispose]: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
