/**
 * Re-entrancy: user code runs inside the library's delivery loops (a pool's drain, the synchronous client's
 * exchange and wait), and may call the client it listens to. Every kind of listener of every client (message
 * listeners, connection events, `onPush`, the synchronous client's `gap` and the pushes `nextMessage` reads) calls
 * every public method that makes sense there, and the invariants hold each time: every promise settles in time,
 * no message is lost or delivered twice, every reply reaches its caller, no "a bug" error, a pool's count of calls
 * in flight ends at zero (and the process can exit), and close() from a listener lets what came before it settle
 * while what comes after rejects with ClosedError.
 */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { runChild } from "../harness/child.ts";
import { type RedisServer, startCluster, startRedis, startSentinels } from "../harness/server.ts";
import { until } from "../harness/wait.ts";
import { type Client, ClosedError, connect, connectPool, type Pool, type Reply, type Subscription } from "../../mod.ts";
import { type ClusterPool, connectClusterPool } from "../../cluster.ts";
import { connectSentinelPool, type SentinelPool } from "../../sentinel.ts";

const server = await startRedis();
const cluster = await startCluster({ replicas: 0 });
const sentinels = await startSentinels();
// The server disposed, not only stopped: its directory goes too.
afterAll(() => Promise.all([server[Symbol.asyncDispose](), cluster.stop(), sentinels.stop()]).then(() => {}));

/** How long anything may take before the test says it hung. */
const SETTLE_MS = 10_000;
/** Messages (or pushes) numbered by their sender in each scenario: each must arrive once, in order. */
const SENT = 20;
const BURST = 5_000;

/** `promise`, or a failure naming `what` once it took longer than `ms`: a hang fails the test instead of stalling it. */
async function within<T>(what: string, promise: PromiseLike<T>, ms = SETTLE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a failure must never say: the library's own inconsistency. */
function assertNoBug(error: unknown): void {
  assert(!/a bug/.test(String((error as Error)?.message ?? error)), `the library reported a bug: ${error}`);
}

/** Numbered arrivals per channel (or key): `check` wants 0…count-1 each once, in order. */
class Arrivals {
  readonly #seen = new Map<string, number[]>();

  add(name: string, n: number): void {
    const list = this.#seen.get(name);
    if (list === undefined) this.#seen.set(name, [n]);
    else list.push(n);
  }

  count(name: string): number {
    return this.#seen.get(name)?.length ?? 0;
  }

  /** `inOrder: false` for invalidations: the server names the keys of one push in its own (sorted) order. */
  check(name: string, count: number, inOrder = true): void {
    const seen = [...this.#seen.get(name) ?? []];
    if (!inOrder) seen.sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: count }, (_, i) => i), `arrivals on ${name}`);
  }
}

/**
 * Runs user code inside a listener once: it starts there, synchronously, and its promise (its own checks) is kept
 * for the test to await. A synchronous throw is kept too, as a rejection.
 */
class Once {
  promise: Promise<void> | undefined;

  run(body: () => Promise<void>): void {
    if (this.promise !== undefined) return;
    try {
      this.promise = body();
    } catch (e) {
      this.promise = Promise.reject(e);
    }
    this.promise.catch(() => {}); // awaited by `done`, maybe after it failed
  }

  /** Waits until the listener ran the body, then for the body itself. */
  async done(what: string): Promise<void> {
    await within(`${what}: the listener`, until(() => this.promise !== undefined, SETTLE_MS, "the listener"));
    try {
      await within(what, this.promise!);
    } catch (e) {
      assertNoBug(e);
      throw e;
    }
  }
}

/**
 * Kills one connection named `tag` (or logged in as user `tag`) that is not subscribed: one of the commands'
 * connections, by id. One: the calls a listener makes then have a connection that is up, or wait for one, and
 * must succeed (those a dropped connection carried may fail, as documented).
 */
function killOne(servers: readonly RedisServer[], tag: string): void {
  for (const s of servers) {
    const line = s.cli("CLIENT", "LIST", "TYPE", "normal").split("\n")
      .find((l) => l.includes(` name=${tag} `) || l.includes(` user=${tag} `));
    if (line !== undefined) return void s.cli("CLIENT", "KILL", "ID", /id=(\d+)/.exec(line)![1]!);
  }
  assert.fail(`no connection of ${tag} to kill`);
}

// ---- the asynchronous pools ------------------------------------------------------------------------------------

type AsyncPool = Pool | ClusterPool | SentinelPool;

/** What an action of a pool's listener has at hand. */
interface PoolScene {
  readonly pool: AsyncPool;
  /** Unique to the test: keys and channels start with it. */
  readonly tag: string;
  /** The scenario's subscription, whose numbered messages are counted; null on a pool without Pub/Sub. */
  own: Subscription | null;
}

/** An action a listener starts (synchronously) and whose promise checks its results. */
type PoolAction = (scene: PoolScene) => Promise<void>;

const poolActions: Record<string, PoolAction> = {
  "a command": async ({ pool, tag }) => {
    const key = `${tag}:key`;
    assert.equal(await within("SET", pool.set(key, key)), "OK");
    assert.equal(await within("GET", pool.get(key)), key);
  },
  [`a burst of ${BURST.toLocaleString("en")}`]: async ({ pool, tag }) => {
    const burst = Array.from({ length: BURST }, (_, i) => pool.echo(`${tag}:${i}`));
    const replies = await within("the burst", Promise.all(burst));
    replies.forEach((reply, i) => assert.equal(reply, `${tag}:${i}`));
  },
  "a pipeline": async ({ pool, tag }) => {
    const key = `${tag}:piped`;
    assert.deepEqual(await within("the pipeline", pool.pipeline().set(key, key).get(key).execute()), ["OK", key]);
  },
  "subscribe a new channel, then unsubscribe": async ({ pool, tag }) => {
    if (!("subscribe" in pool)) throw new TypeError("a pool without Pub/Sub");
    const channel = `${tag}:new`, got: string[] = [];
    const sub = await within("subscribe", pool.subscribe(channel, ({ message }) => void got.push(message)));
    await within("publish", pool.publish(channel, "hello"));
    await within("the new channel's message", until(() => got.length > 0, SETTLE_MS, "the message"));
    await within("unsubscribe", sub.unsubscribe());
    assert.deepEqual(got, ["hello"]);
  },
  "unsubscribe its own channel": async ({ own }) => {
    if (own === null) throw new TypeError("a pool without Pub/Sub");
    const leaving = own.unsubscribe();
    assert.equal(own.closed, true, "ended at once: no message reaches it after the call");
    await within("unsubscribe", leaving);
  },
  "acquire() and release()": async ({ pool, tag }) => {
    const lease = await within("acquire", (pool as Pool).acquire());
    try {
      const key = `${tag}:leased`;
      assert.equal(await within("SET on the lease", lease.set(key, key)), "OK");
      assert.equal(await within("GET on the lease", lease.get(key)), key);
    } finally {
      lease.release();
    }
  },
};

/** The actions that end the scenario's own subscription: its later messages are not delivered. */
const ENDS_OWN = new Set(["unsubscribe its own channel"]);

/** Where a pool's user code runs, and how a test makes it run. */
interface ListenerKind {
  /** Installs the listener (`body` runs inside it, once) and returns what sets it off. */
  arm(pool: AsyncPool, tag: string, arrivals: Arrivals, body: () => void): Promise<() => Promise<void>>;
  protocol?: 3;
}

/**
 * Publishes `SENT` numbered messages on the scenario's channel in one write, from one connection to one server (a
 * cluster forwards them to the other nodes in that order).
 */
function publishNumbered(to: RedisServer, channel: string): void {
  using publisher = connect(to.host, to.port);
  for (let i = 0; i < SENT; i++) publisher.addCommand("PUBLISH", channel, String(i));
  publisher.execute();
}

/**
 * A connection event's listener: armed once the pool is up, set off by killing one of its connections. A ready
 * listener waits for the loss to be seen: another connection's first connect may come after PING, while the killed
 * one, its end not read yet, still looks up (what a listener then wrote to it may have run, and fails).
 */
function eventKind(type: "error" | "ready", servers: () => readonly RedisServer[]): ListenerKind {
  return {
    arm: async (pool, tag, _arrivals, body) => {
      assert.equal(await within("PING", pool.ping()), "PONG");
      let armed = false, lost = false;
      pool.on("error", () => void (lost = armed));
      pool.on(type, () => {
        if (armed && (type === "error" || lost)) body();
      });
      return () => {
        armed = true;
        killOne(servers(), tag);
        return Promise.resolve();
      };
    },
  };
}

const MESSAGE = "a message listener", ERROR = "an error listener", READY = "a ready listener";
const PUSH = "onPush (client tracking's invalidations)";

function poolKinds(servers: () => readonly RedisServer[]): Record<string, ListenerKind> {
  return {
    [MESSAGE]: {
      // The scenario's own subscription's listener: the caller counts, then calls `body`.
      arm: () => Promise.resolve(() => Promise.resolve()),
    },
    [ERROR]: eventKind("error", servers),
    [READY]: eventKind("ready", servers),
    [PUSH]: {
      protocol: 3,
      arm: async (pool, tag, arrivals, body) => {
        const lease = await within("acquire", (pool as Pool).acquire());
        (pool as Pool).onPush = (push) => {
          const [type, keys] = push as [string, Reply[]];
          if (type !== "invalidate" || !Array.isArray(keys)) return;
          // BCAST gathers the keys one turn of the server wrote into one push.
          for (const key of keys) arrivals.add(`${tag}:push`, Number(String(key).split(":").at(-1)));
          body();
        };
        await within("CLIENT TRACKING", lease.send("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", `${tag}:push:`));
        return async () => {
          using writer = connect(servers()[0]!.host, servers()[0]!.port);
          for (let i = 0; i < SENT; i++) writer.addCommand("SET", `${tag}:push:${i}`, "x");
          writer.execute();
          await within("the pushes", until(() => arrivals.count(`${tag}:push`) === SENT, SETTLE_MS, "the pushes"));
          lease.release();
        };
      },
    },
  };
}

/** The pool's count of calls in flight comes back to zero (a sentinel pool's core is not shown: skipped). */
async function assertNothingInFlight(pool: AsyncPool): Promise<void> {
  if (!("pending" in pool)) return;
  await within("nothing in flight", until(() => pool.pending === 0, SETTLE_MS, "pending 0"));
  assert.equal(pool.pending, 0);
}

/**
 * One scenario: a pool with a subscription counting numbered messages, a listener of `kind` that starts `action`
 * once, set off, then the messages published. Checks the action's own results, the messages, the pool's count.
 */
async function poolScenario(
  open: (tag: string, protocol: 2 | 3 | undefined) => Promise<AsyncPool>,
  servers: () => readonly RedisServer[],
  kind: ListenerKind,
  isMessageKind: boolean,
  actionName: string,
  tag: string,
): Promise<void> {
  const pool = await open(tag, kind.protocol);
  try {
    const arrivals = new Arrivals(), once = new Once(), channel = `${tag}:ch`;
    const scene: PoolScene = { pool, tag, own: null };
    const body = () => once.run(() => poolActions[actionName]!(scene));
    const own = scene.own = !("subscribe" in pool) ? null : await within(
      "subscribe",
      pool.subscribe(channel, ({ message }) => {
        arrivals.add(channel, Number(message));
        if (isMessageKind) body();
      }),
    );
    const setOff = await kind.arm(pool, tag, arrivals, body);
    await setOff();
    if (own !== null) publishNumbered(servers()[0]!, channel);
    await once.done(actionName);
    if (own === null) {
      // No messages to count.
    } else if (ENDS_OWN.has(actionName) && isMessageKind) {
      arrivals.check(channel, 1); // the listener ended it while handling the first
    } else if (ENDS_OWN.has(actionName)) {
      assert.equal(own.closed, true);
    } else {
      await within("the messages", until(() => arrivals.count(channel) >= SENT, SETTLE_MS, "the messages"));
      arrivals.check(channel, SENT);
    }
    if (kind.protocol === 3) arrivals.check(`${tag}:push`, SENT, false);
    await own?.unsubscribe();
    await assertNothingInFlight(pool);
  } finally {
    await within("close", pool.close());
  }
}

/**
 * close() from inside a listener: the calls it made before settle as if no close came (replies, not ClosedError),
 * those after reject with ClosedError, nothing hangs.
 */
async function closeScenario(
  pool: AsyncPool,
  kind: ListenerKind,
  isMessageKind: boolean,
  servers: () => readonly RedisServer[],
  tag: string,
): Promise<void> {
  const once = new Once(), channel = `${tag}:ch`;
  const body = () =>
    once.run(async () => {
      const key = `${tag}:key`;
      const before = [
        pool.set(key, key),
        pool.pipeline().get(key).echo(tag).execute(),
        Promise.all(Array.from({ length: BURST }, (_, i) => pool.echo(String(i)))),
      ];
      const closing = pool.close();
      // What each call after close() settled with (handled at once: a rejection is the expected outcome).
      const after = [
        pool.get(key),
        pool.pipeline().get(key).execute(),
        ...("subscribe" in pool ? [pool.subscribe(`${tag}:late`)] : []),
        // A cluster pool's acquire takes the key whose node it lends; a pool's, nothing (the key is ignored).
        ...("acquire" in pool ? [(pool.acquire as (key: string) => Promise<unknown>).call(pool, key)] : []),
      ].map((call: Promise<unknown>) => call.then((value) => `resolved with ${value}`, (e: unknown) => e));
      const settled = await within("the calls before close()", Promise.allSettled(before));
      const [set, piped, burst] = settled.map((s) => s.status === "fulfilled" ? s.value : s.reason);
      assert.deepEqual(piped, [key, tag]); // its GET follows the SET
      assert.equal(set, "OK");
      (burst as string[]).forEach((reply, i) => assert.equal(reply, String(i)));
      for (const call of after) {
        const refused = await within("a call after close()", call);
        assert(refused instanceof ClosedError, `after close(): ${refused}`);
      }
      await within("close()", closing);
    });
  if ("subscribe" in pool) {
    await within(
      "subscribe",
      pool.subscribe(channel, () => {
        if (isMessageKind) body();
      }),
    );
  }
  const setOff = await kind.arm(pool, tag, new Arrivals(), body);
  await setOff().catch(() => {}); // the pool may be gone before a push kind's set-off is done
  if (isMessageKind) publishNumbered(servers()[0]!, channel);
  await once.done("close() in a listener");
  await assertNothingInFlight(pool);
}

/** The matrix for one pool type: every kind of listener × every action, then close() from each kind. */
function poolMatrix(
  name: string,
  open: (tag: string, protocol: 2 | 3 | undefined) => Promise<AsyncPool>,
  servers: () => readonly RedisServer[],
  kinds: readonly string[],
  actions: readonly string[],
): void {
  const all = poolKinds(servers);
  for (const kindName of kinds) {
    const kind = all[kindName]!, isMessageKind = kindName === MESSAGE;
    for (const action of actions) {
      test(`${name}: ${kindName} calls ${action}`, async () => {
        const tag = `reent:${name}:${kindName}:${action}`.replace(/[^a-z0-9:]+/gi, "-");
        await poolScenario(open, servers, kind, isMessageKind, action, tag);
      });
    }
    test(`${name}: ${kindName} calls close(): what came before settles, what comes after is ClosedError`, async () => {
      const tag = `reent:${name}:${kindName}:close`.replace(/[^a-z0-9:]+/gi, "-");
      await closeScenario(await open(tag, kind.protocol), kind, isMessageKind, servers, tag);
    });
  }
}

poolMatrix(
  "pool",
  (tag, protocol) =>
    Promise.resolve(connectPool({ host: server.host, port: server.port, size: 2, name: tag, protocol })),
  () => [server],
  [MESSAGE, ERROR, READY, PUSH],
  Object.keys(poolActions),
);

// The client-side cache's own push hook and its reads run beside the listener's calls.
poolMatrix(
  "pool with clientCache",
  (tag) =>
    Promise.resolve(connectPool({ host: server.host, port: server.port, size: 2, name: tag, clientCache: true })),
  () => [server],
  [MESSAGE, READY],
  ["a command", "a pipeline"],
);

const clusterSeeds = cluster.addresses.map((a) => `redis://${a}`);
poolMatrix(
  "cluster pool",
  (tag, protocol) => connectClusterPool({ nodes: clusterSeeds, name: tag, protocol, refreshInterval: 0 }),
  () => cluster.nodes,
  [MESSAGE, ERROR, READY],
  Object.keys(poolActions).filter((action) => action !== "acquire() and release()"),
);

poolMatrix(
  "sentinel pool",
  (tag) => {
    // A sentinel pool's `name` is the set's: its connections are told apart by their user. One connection: when
    // it drops, the pool's outage begins and the listener's calls wait for its end.
    sentinels.master.cli("ACL", "SETUSER", tag, "on", "nopass", "~*", "&*", "+@all");
    return connectSentinelPool({
      sentinels: sentinels.sentinels.map((port) => `redis://127.0.0.1:${port}`),
      name: sentinels.name,
      size: 1,
      username: tag,
      password: "",
    });
  },
  () => [sentinels.master],
  [ERROR, READY],
  ["a command", `a burst of ${BURST.toLocaleString("en")}`, "a pipeline"],
);

// ---- the synchronous client ------------------------------------------------------------------------------------

/** What an action of the synchronous client's listener has at hand. */
interface ClientScene {
  readonly client: Client;
  readonly tag: string;
  /** Another connection, to publish and write. */
  readonly writer: Client;
  readonly arrivals: Arrivals;
}

/** The scenario's channel: its numbered messages are counted wherever `nextMessage` takes them. */
const ownChannel = (tag: string) => `${tag}:ch`;

/** The next message (at most `timeoutMs`), counted when it is one of the scenario's numbered ones. */
function nextMessage({ client, tag, arrivals }: ClientScene, timeoutMs: number) {
  const message = client.nextMessage(timeoutMs);
  if (message?.channel === ownChannel(tag)) arrivals.add(message.channel, Number(message.message));
  return message;
}

/** Publishes the scenario's numbered messages, then takes them all (and any push read meanwhile). */
function publishAndTake(scene: ClientScene): void {
  for (let i = 0; i < SENT; i++) scene.writer.addCommand("PUBLISH", ownChannel(scene.tag), String(i));
  scene.writer.execute();
  const deadline = Date.now() + SETTLE_MS;
  while (scene.arrivals.count(ownChannel(scene.tag)) < SENT && Date.now() < deadline && !scene.client.closed) {
    nextMessage(scene, 100);
  }
}

const clientActions: Record<string, (scene: ClientScene) => void> = {
  "a command": ({ client, tag }) => {
    const key = `${tag}:key`;
    assert.equal(client.set(key, key), "OK");
    assert.equal(client.get(key), key);
  },
  [`a burst of ${BURST.toLocaleString("en")} (addCommand, execute)`]: ({ client, tag }) => {
    for (let i = 0; i < BURST; i++) client.addCommand("ECHO", `${tag}:${i}`);
    client.execute().forEach((reply, i) => assert.equal(reply, `${tag}:${i}`));
  },
  "a pipeline": ({ client, tag }) => {
    const key = `${tag}:piped`;
    assert.deepEqual(client.pipeline().set(key, key).get(key).execute(), ["OK", key]);
  },
  "subscribe a new channel, nextMessage, unsubscribe": (scene) => {
    const channel = `${scene.tag}:new`, deadline = Date.now() + SETTLE_MS;
    scene.client.subscribe(channel);
    assert.equal(scene.writer.publish(channel, "hello"), 1);
    let message;
    do message = nextMessage(scene, 100); while (message?.channel !== channel && Date.now() < deadline);
    assert.deepEqual(message, { channel, message: "hello" });
    scene.client.unsubscribe(channel);
  },
  "nextMessage": (scene) => {
    while (nextMessage(scene, 0) !== null);
  },
};

/** Where the synchronous client's user code runs, and how a test makes it run. */
interface ClientKind {
  protocol?: 3;
  /** Subscribed to the scenario's channel: `nextMessage` is in use (and allowed in the listener). */
  subscribed?: true;
  /** Tracks the scenario's keys: each write's invalidation must reach `onPush` once. */
  tracks?: true;
  /** Installs the listener, which runs `body` (once). */
  arm(scene: ClientScene, body: () => void): void;
  /** The calls the listener runs inside, checked: they answer as if no listener ran. */
  setOff(scene: ClientScene): void;
}

/** Kills the client's connection, by its id. */
function killClient({ client }: ClientScene): void {
  server.cli("CLIENT", "KILL", "ID", String(client.send("CLIENT", "ID")));
}

/** The outer call: its reply is its own, whatever the listeners did inside it. */
function outerCall({ client, tag }: ClientScene): void {
  assert.equal(client.incr(`${tag}:outer`), 1);
}

/** Turns on client tracking's invalidations for the scenario's keys; the pushes go to `body`, counted. */
function trackInvalidations(scene: ClientScene, body: () => void): void {
  scene.client.onPush = (push) => {
    const [type, keys] = push as [string, Reply[]];
    if (type !== "invalidate" || !Array.isArray(keys)) return;
    for (const key of keys) scene.arrivals.add(`${scene.tag}:push`, Number(String(key).split(":").at(-1)));
    body();
  };
  scene.client.send("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", `${scene.tag}:push:`);
}

function writeTracked({ writer, tag }: ClientScene): void {
  for (let i = 0; i < SENT; i++) writer.addCommand("SET", `${tag}:push:${i}`, "x");
  writer.execute();
}

function clientEventKind(type: "error" | "ready"): ClientKind {
  return {
    arm: ({ client }, body) => void client.on(type, body),
    setOff: (scene) => {
      killClient(scene);
      outerCall(scene); // the drop and the redial are its records
    },
  };
}

const clientKinds: Record<string, ClientKind> = {
  [ERROR]: clientEventKind("error"),
  [READY]: clientEventKind("ready"),
  "onPush, read along with a reply": {
    protocol: 3,
    tracks: true,
    arm: trackInvalidations,
    setOff: (scene) => {
      writeTracked(scene);
      outerCall(scene);
      const deadline = Date.now() + SETTLE_MS;
      while (scene.arrivals.count(`${scene.tag}:push`) < SENT && Date.now() < deadline) scene.client.ping();
    },
  },
  "onPush, read while nextMessage waits": {
    protocol: 3,
    tracks: true,
    subscribed: true,
    arm: (scene, body) => {
      trackInvalidations(scene, body);
      scene.client.subscribe(ownChannel(scene.tag));
    },
    setOff: (scene) => {
      writeTracked(scene);
      publishAndTake(scene);
    },
  },
  "a gap listener (nextMessage subscribed again)": {
    protocol: 3,
    subscribed: true,
    arm: (scene, body) => {
      scene.client.on("gap", body);
      scene.client.subscribe(ownChannel(scene.tag));
    },
    setOff: (scene) => {
      killClient(scene);
      assert.equal(nextMessage(scene, 50), null); // sees the drop, subscribes again, reports the gap
      publishAndTake(scene);
    },
  },
};

function clientScene(tag: string, kind: ClientKind): ClientScene {
  return {
    client: connect(server.host, server.port, { protocol: kind.protocol, name: tag }),
    tag,
    writer: connect(server.host, server.port),
    arrivals: new Arrivals(),
  };
}

for (const [kindName, kind] of Object.entries(clientKinds)) {
  for (const [actionName, action] of Object.entries(clientActions)) {
    if (actionName === "nextMessage" && !kind.subscribed) continue; // it needs a subscription
    test(`client: ${kindName} calls ${actionName}`, async () => {
      const scene = clientScene(`reent:client:${kindName}:${actionName}`.replace(/[^a-z0-9:]+/gi, "-"), kind);
      using _client = scene.client, _writer = scene.writer;
      const once = new Once();
      kind.arm(scene, () => once.run(() => Promise.resolve(action(scene))));
      kind.setOff(scene);
      await once.done(actionName);
      if (kind.subscribed) scene.arrivals.check(ownChannel(scene.tag), SENT);
      if (kind.tracks) scene.arrivals.check(`${scene.tag}:push`, SENT, false);
      assert.equal(scene.client.ping(), "PONG", "the client goes on");
    });
  }
  test(`client: ${kindName} calls close(): its earlier calls answered, later ones ClosedError`, async () => {
    const scene = clientScene(`reent:client:${kindName}:close`.replace(/[^a-z0-9:]+/gi, "-"), kind);
    using _writer = scene.writer;
    const once = new Once(), { client, tag } = scene, key = `${tag}:key`;
    kind.arm(scene, () =>
      once.run(() => {
        assert.equal(client.set(key, key), "OK");
        client.close();
        assert.throws(() => client.get(key), ClosedError);
        assert.throws(() => client.pipeline().get(key).execute(), ClosedError);
        assert.throws(() => client.subscribe(`${tag}:late`), ClosedError);
        assert.throws(() => client.nextMessage(0), ClosedError);
        return Promise.resolve();
      }));
    try {
      kind.setOff(scene);
    } catch (e) {
      // A nextMessage under way when its listener closed the client ends so; the other outer calls answer.
      assert(kind.subscribed && e instanceof ClosedError, `the outer call: ${e}`);
    }
    await once.done("close() in a listener");
    assert.throws(() => client.ping(), ClosedError);
  });
}

// ---- the process ends --------------------------------------------------------------------------------------------

for (const mode of ["idle", "close"]) {
  test(`pool: a process whose message listener called the pool (${mode}) ends by itself`, async () => {
    const child = fileURLToPath(new URL("./reentrancy_child.ts", import.meta.url));
    const outcome = await runChild(child, [String(server.port), mode]);
    assert.equal(outcome.code, 0, outcome.output);
    assert(outcome.output.includes("done"), outcome.output);
  });
}
