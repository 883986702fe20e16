/**
 * Starts a private redis-server on a free loopback port for a test file or a
 * benchmark, and always stops it. Works under Deno, Bun and Node.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** The server process' pid while it runs (benchmarks read its CPU time from /proc). */
  readonly pid: number | undefined;
  /** Path of the server's unix socket. */
  readonly socket: string;
  /** Runs redis-cli against this server and returns its output. */
  cli(...args: string[]): string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /**
   * Starts it again on the same port (after `stop` or a crash), or stops and starts it; the data saved in its
   * directory is read again. Returns once it answers PING, or with `{ loading: true }` once it answers at all
   * (LOADING, while it reads that data).
   */
  restart(options?: { loading?: boolean }): Promise<void>;
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

/**
 * Servers and sentinels this process started and that still run, with their directories: stopped and removed too
 * when a signal stops the process.
 */
const running = new Map<ChildProcess, string>();
const STOP_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/**
 * A signal that ends this process (Ctrl-C on a benchmark, a runner's timeout) does not run `stop()`: the servers
 * still running are killed here, then the process exits as the signal would have ended it.
 */
function stopRunning(signal: keyof typeof STOP_SIGNALS): void {
  for (const [proc, dir] of running) {
    try {
      process.kill(proc.pid!, "SIGKILL"); // by pid: a stopped (SIGSTOP) sentinel too
    } catch {
      // exited meanwhile
    }
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(128 + STOP_SIGNALS[signal]);
}

/**
 * Counts a started server (its directory `dir`) in `running` until it exits; the signal listeners are there only
 * while one runs.
 */
function track(proc: ChildProcess, dir: string): void {
  if (running.size === 0) { for (const signal of Object.keys(STOP_SIGNALS)) process.on(signal, stopRunning); }
  running.set(proc, dir);
  proc.once("exit", () => {
    running.delete(proc);
    if (running.size === 0) { for (const signal of Object.keys(STOP_SIGNALS)) process.off(signal, stopRunning); }
  });
}

/** Listens on loopback `port` (0: any) and closes again: the port it got; rejects when it could not listen. */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const got = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(got));
    });
  });
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return probe(0);
}

/** Whether nobody listens on `port` right now. */
function isFree(port: number): Promise<boolean> {
  return probe(port).then(() => true, () => false);
}

/**
 * A free port for a cluster node: its cluster bus port (port + 10000) is free too. Any free port's bus port may be
 * taken by an outgoing connection's ephemeral port; a node that then fails to bind is started again elsewhere.
 */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort();
    if (port + 10000 <= 65535 && await isFree(port + 10000)) return port;
  }
  throw new Error("no free port whose cluster bus port (+10000) is free too");
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

  const launch = async (loading = false): Promise<void> => {
    const [cmd, args] = options.cpus
      ? ["taskset", ["-c", options.cpus, "redis-server", ...argv]]
      : ["redis-server", argv];
    output = "";
    const proc = spawn(cmd as string, args as string[], { stdio: ["ignore", "pipe", "pipe"] });
    track(proc, dir);
    proc.stdout?.on("data", (d) => (output += d));
    proc.stderr?.on("data", (d) => (output += d));
    child = proc;
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) break;
      const r = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "ping"], { encoding: "utf8" });
      const reply = (r.stdout ?? "").trim();
      if (reply === "PONG" || reply.startsWith("NOAUTH") || reply.includes("AUTH")) return;
      if (loading && reply.startsWith("LOADING")) return;
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
    // The timer is cleared: left running, it kept every process that stopped a server alive 5 s longer.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => timer = setTimeout(resolve, 5000))]);
    clearTimeout(timer);
    if (proc.exitCode === null) proc.kill("SIGKILL");
  };

  try {
    await launch();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host: "127.0.0.1",
    port,
    get pid() {
      return child?.pid;
    },
    socket,
    cli,
    stop,
    restart: async (options) => {
      await stop();
      await launch(options?.loading);
    },
    [Symbol.asyncDispose]: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis Cluster of servers the harness started (see `startCluster`). */
export interface RedisCluster {
  /** Every node, in the order they were started (the first `masters` were made masters). */
  readonly nodes: RedisServer[];
  /** `127.0.0.1:port` of each node. */
  readonly addresses: string[];
  /** Runs redis-cli in cluster mode (`-c`) against the first live node. */
  cli(...args: string[]): string;
  /** The node that serves `slot` as master now. */
  masterOf(slot: number): RedisServer;
  /** Starts one more cluster node (not yet joined) and stops it with the others. */
  startNode(): Promise<RedisServer>;
  /** Runs redis-cli with these arguments without blocking the event loop; resolves with its output. */
  run(...args: string[]): Promise<string>;
  /** Waits until every live node says cluster_state:ok and they agree on who serves each slot. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Runs redis-cli without blocking the event loop; rejects when it exits with a failure. */
export function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    proc.stdout?.on("data", (d) => (output += d));
    proc.stderr?.on("data", (d) => (output += d));
    proc.once("error", reject);
    proc.once(
      "exit",
      (code) => code === 0 ? resolve(output.trim()) : reject(new Error(`redis-cli ${args.join(" ")}: ${output}`)),
    );
  });
}

/** Options of `startCluster`. */
export interface ClusterOptions {
  /** Masters; default 3. */
  masters?: number;
  /** Replicas per master; default 1. */
  replicas?: number;
  /** cluster-node-timeout in ms: how soon a dead master is failed over. Default 1000. */
  nodeTimeout?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** More arguments for one node (the i-th started, on `port`), e.g. its own TLS port. */
  nodeArgs?: (i: number, port: number) => Promise<string[]>;
  /** Pin every node to these CPUs with taskset (benchmarks). */
  cpus?: string;
}

/** The arguments that make a server a cluster node (its nodes.conf in its own directory). */
export function clusterNodeArgs(nodeTimeout = 1000): string[] {
  return [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    String(nodeTimeout),
    // A replica with stale data still takes over in tests (the default factor refuses after a short timeout).
    "--cluster-replica-validity-factor",
    "0",
    // Replicas sync at once rather than after the default 5 s of waiting for more replicas.
    "--repl-diskless-sync-delay",
    "0",
  ];
}

/**
 * Starts `masters × (1 + replicas)` cluster nodes on free loopback ports, joins them with `redis-cli --cluster
 * create`, and waits until the cluster is ok on every node. Always stopped by `stop()` (or `await using`), also
 * when starting fails.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3, replicas = options.replicas ?? 1;
  const args = [...clusterNodeArgs(options.nodeTimeout), ...(options.args ?? [])];
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n[Symbol.asyncDispose]()));
  };
  try {
    const start = async (i: number): Promise<RedisServer> => {
      // A port found free can be taken before the node binds it (or its bus port): then another one.
      for (let attempt = 1;; attempt++) {
        const port = await freeClusterPort();
        const nodeArgs = [...args, ...(await options.nodeArgs?.(i, port) ?? [])];
        try {
          return await startRedis({ port, args: nodeArgs, ...(options.cpus ? { cpus: options.cpus } : {}) });
        } catch (e) {
          if (attempt >= 5 || !String(e).includes("Address already in use")) throw e;
        }
      }
    };
    for (let i = 0; i < masters * (1 + replicas); i++) nodes.push(await start(i));
    const addresses = nodes.map((n) => `${n.host}:${n.port}`);
    const created = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...addresses, "--cluster-replicas", String(replicas), "--cluster-yes"],
      { encoding: "utf8" },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
    const live = (): RedisServer[] => nodes.filter((n) => n.cli("ping") === "PONG");
    const cluster: RedisCluster = {
      nodes,
      addresses,
      cli: (...a: string[]) => {
        const node = live()[0];
        if (node === undefined) throw new Error("no cluster node is up");
        return spawnSync("redis-cli", ["-c", "-h", node.host, "-p", String(node.port), ...a], { encoding: "utf8" })
          .stdout.trim();
      },
      startNode: async () => {
        const node = await start(nodes.length);
        nodes.push(node);
        return node;
      },
      run: (...a: string[]) => runCli(a),
      masterOf: (slot: number) => {
        for (const node of live()) {
          const line = node.cli("cluster", "nodes").split("\n").find((l) => l.includes("myself"));
          if (line === undefined || !line.includes("master")) continue;
          for (const range of line.split(" ").slice(8)) {
            if (range.startsWith("[")) continue;
            const [from, to] = range.split("-").map(Number);
            if (slot >= from! && slot <= (to ?? from)!) return node;
          }
        }
        throw new Error(`no live master serves slot ${slot}`);
      },
      waitHealthy: async (timeoutMs = 30_000) => {
        const deadline = Date.now() + timeoutMs;
        let last = "";
        while (Date.now() < deadline) {
          const up = live();
          const states = up.map((n) => n.cli("cluster", "info").includes("cluster_state:ok"));
          // Every node's view of the slots' owners, normalized, must be the same.
          const views = up.map((n) =>
            n.cli("cluster", "nodes").split("\n").filter((l) => l.includes("master") && !l.includes("fail"))
              .map((l) => l.split(" ").filter((_, i) => i === 1 || i >= 8).join(" ")).sort().join("|")
          );
          // And every replica's link to its master is up (reads from replicas see the writes).
          const linked = up.every((n) =>
            !n.cli("role").startsWith("slave") || n.cli("info", "replication").includes("master_link_status:up")
          );
          if (states.every(Boolean) && views.every((v) => v === views[0]) && linked) return;
          last = `${states.join(",")} ${new Set(views).size} views`;
          await sleep(100);
        }
        throw new Error(`the cluster did not become healthy within ${timeoutMs} ms (${last})`);
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    await cluster.waitHealthy();
    return cluster;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A master, its replica and three sentinels watching them (see `startSentinels`). */
export interface SentinelSet {
  /** The set's name, as the sentinels monitor it. */
  readonly name: string;
  readonly master: RedisServer;
  readonly replica: RedisServer;
  /** The sentinels' ports on 127.0.0.1. */
  readonly sentinels: number[];
  /** Asks a sentinel where the master is now (`host:port`). */
  masterAddress(): string;
  /**
   * Stops the sentinels' processes (SIGSTOP: connections still open, nothing answered) or lets them go on; `only`:
   * these of them (indexes into `sentinels`).
   */
  freezeSentinels(frozen: boolean, only?: number[]): void;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a master, one replica of it and three sentinels (quorum 2, a master is down after `downAfter` ms,
 * default 1000), all on free loopback ports; waits until the sentinels see the replica. Always stopped.
 */
export async function startSentinels(
  options: { downAfter?: number; password?: string; sentinelPassword?: string } = {},
): Promise<SentinelSet> {
  const name = "cpipe-set";
  const servers: RedisServer[] = [];
  const sentinels: { port: number; proc: ChildProcess; dir: string }[] = [];
  const stop = async (): Promise<void> => {
    for (const s of sentinels) {
      if (s.proc.exitCode === null) {
        const exited = new Promise<void>((resolve) => s.proc.once("exit", () => resolve()));
        s.proc.kill("SIGKILL");
        await exited;
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
    await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
  };
  try {
    const auth = options.password === undefined
      ? []
      : ["--requirepass", options.password, "--masterauth", options.password];
    const master = await startRedis({ args: ["--repl-diskless-sync-delay", "0", ...auth] });
    servers.push(master);
    const replica = await startRedis({
      args: ["--replicaof", master.host, String(master.port), "--repl-diskless-sync-delay", "0", ...auth],
    });
    servers.push(replica);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "cpipe-sentinel-"));
      const conf = join(dir, "sentinel.conf");
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          "protected-mode no",
          `dir ${dir}`,
          `sentinel monitor ${name} ${master.host} ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} ${options.downAfter ?? 1000}`,
          `sentinel failover-timeout ${name} 5000`,
          ...(options.password === undefined ? [] : [`sentinel auth-pass ${name} ${options.password}`]),
          ...(options.sentinelPassword === undefined
            ? []
            : [`requirepass ${options.sentinelPassword}`, `sentinel sentinel-pass ${options.sentinelPassword}`]),
          "",
        ].join("\n"),
      );
      const proc = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
      track(proc, dir);
      sentinels.push({ port, proc, dir });
    }
    const sentinelAuth = options.sentinelPassword === undefined
      ? []
      : ["-a", options.sentinelPassword, "--no-auth-warning"];
    const ask = (port: number, ...args: string[]): string =>
      (spawnSync("redis-cli", ["-p", String(port), ...sentinelAuth, ...args], { encoding: "utf8" }).stdout ?? "")
        .trim();
    const set: SentinelSet = {
      name,
      master,
      replica,
      sentinels: sentinels.map((s) => s.port),
      masterAddress: () => {
        for (const s of sentinels) {
          const reply = ask(s.port, "sentinel", "get-master-addr-by-name", name).split("\n");
          if (reply.length === 2) return `${reply[0]}:${reply[1]}`;
        }
        return "";
      },
      freezeSentinels: (frozen, only) => {
        // By pid: Deno's ChildProcess.kill("SIGSTOP") marks the child as ended, and its real exit is never reported.
        sentinels.forEach((s, i) => {
          if (only === undefined || only.includes(i)) process.kill(s.proc.pid!, frozen ? "SIGSTOP" : "SIGCONT");
        });
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    // Every sentinel knows the replica and the other sentinels, and the replica is in sync.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = sentinels.every((s) => {
        const info = ask(s.port, "sentinel", "master", name);
        const field = (key: string) => info.split("\n")[info.split("\n").indexOf(key) + 1];
        return field("num-slaves") === "1" && field("num-other-sentinels") === "2";
      }) && replica.cli("info", "replication").includes("master_link_status:up");
      if (ready) return set;
      if (Date.now() > deadline) throw new Error("the sentinels did not see the replica and each other in time");
      await sleep(100);
    }
  } catch (e) {
    await stop();
    throw e;
  }
}
