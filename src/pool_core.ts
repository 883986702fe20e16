/**
 * The JavaScript half of a pool: the native handle and its notification
 * socket, the batcher (commands out) and the dispatcher (records in), the
 * exclusive connections callers acquire, and the pool's life: ref'd while it works,
 * closed gracefully, and freed when nobody can reach it any more. See
 * `csrc/cpipe.h` for the native half.
 */
import { Call, Header, Role, Status } from "../ffi/abi.ts";
import { native } from "../ffi/load.ts";
import type { Handle } from "../ffi/symbols.ts";
import { Batcher, EARLY_FLUSH, NOT_BLOCKING, type Pin } from "./batcher.ts";
import type { Transform } from "./replies.ts";
import { ClientCache } from "./client_cache.ts";
import { ReplyDecoder } from "./decoder.ts";
import { Dispatcher, type Inspector, type TakeBack } from "./dispatcher.ts";
import type { KeptReplies } from "./kept_replies.ts";
import { CommandEncoder } from "./encoder.ts";
import { ClosedError, type ConnectionError, CpipeError, TimeoutError } from "./errors.ts";
import { prepare, watch, type Watched } from "./notifier.ts";
import { RuntimeReader } from "./runtime_reader.ts";
import { type ConnectionEvent, RecordReader } from "./records.ts";
import { describeAddress, type PoolSettings, redact } from "./options.ts";
import { encodePoolSettings } from "./settings.ts";
import { type KeyPrefix, keyPrefixOf, withKeyPrefixOrError } from "./key_positions.ts";
import { errorFromStatus } from "./status.ts";
import { offlineTimeoutError } from "./offline_wait.ts";
import { BLOCKING, classify } from "./pool_routing.ts";
import type { Arg, Reply } from "./types.ts";

const OUT_SIZE = 256 * 1024;
const OUT_RETAIN_LIMIT = 16 * 1024 * 1024;
/**
 * How many times one command that never left is sent again (`sendUnsentAgain`): each time its connection came up and
 * dropped again before writing it, and a server that keeps doing so must not keep its caller waiting for ever.
 */
const MAX_TAKE_BACKS = 3;

/** The pool's queue is full: too many commands wait for the server. */
export class QueueFullError extends CpipeError {
  /** Always `"QueueFullError"`. */
  override name = "QueueFullError";
}

/**
 * What a pool needs freed when it is gone: shared by the core and the
 * FinalizationRegistry, and holding nothing that reaches the core, so that a
 * pool nobody can reach is collected and freed.
 */
interface Resources {
  handle: Handle | null;
  notifier: Watched | null;
  /** The sockets the runtime reads for handed-over connections, by connection. */
  readers: Map<number, RuntimeReader>;
}

function free(resources: Resources): void {
  resources.notifier?.close();
  resources.notifier = null;
  for (const reader of resources.readers.values()) reader.stop();
  resources.readers.clear();
  if (resources.handle !== null) native.cpipe_pool_free(resources.handle);
  resources.handle = null;
}

/** Frees native pools whose owners were collected without close(). */
const orphans = new FinalizationRegistry<Resources>(free);

/**
 * Cores with work in flight: kept reachable, so that a pool dropped by its
 * user while commands are pending still answers them (and only then becomes
 * collectable).
 */
const working = new Set<PoolCore>();

interface AcquireWaiter {
  resolve(connection: number): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class PoolCore {
  readonly address: string;
  readonly size: number;
  readonly maxInFlight: number;
  readonly #resources: Resources;
  readonly #settings: PoolSettings;
  readonly #batcher: Batcher;
  readonly #dispatcher = new Dispatcher();
  readonly #decoder = Object.assign(new ReplyDecoder(), { stackless: true });
  readonly #records = new RecordReader();
  #out: Uint8Array = new Uint8Array(OUT_SIZE);
  /** `drain` runs (see there); and whether it was asked to meanwhile. */
  #draining = false;
  #drainAgain = false;
  #referenced = false;
  #unrefQueued = false;

  #acquireWaiters: AcquireWaiter[] = [];
  readonly #acquired = new Set<number>();
  #idleWaiters: (() => void)[] = [];
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Told of every connection event. */
  onEvent: ((event: ConnectionEvent) => void) | null = null;
  /** Client-side caching (the `clientCache` option); null when off. */
  cache: ClientCache | null = null;

  /** The `keyPrefix` option, applied to every command's keys here and by the pool's pipelines. */
  readonly keyPrefix: KeyPrefix | null;

  constructor(settings: PoolSettings) {
    this.#settings = settings;
    this.keyPrefix = keyPrefixOf(settings);
    this.size = settings.size;
    this.maxInFlight = settings.maxInFlight;
    this.address = describeAddress(settings);
    this.#records.redact = (text) => redact(text, settings);
    const bytes = encodePoolSettings(settings);
    const handle = native.cpipe_pool_create(bytes, bytes.length);
    if (handle === null) throw new CpipeError(`cpipe: cannot create a pool for ${this.address}`);
    this.#resources = { handle, notifier: null, readers: new Map() };
    orphans.register(this, this.#resources, this);
    const dispatcher = this.#dispatcher;
    this.#batcher = new Batcher({
      size: this.size,
      maxInFlight: this.maxInFlight,
      fail: (id, error, connection) => dispatcher.fail(id, error, connection),
      exclusive: (route) => this.#exclusive(route),
      offline: () => this.#offline(),
      address: this.address,
    });
    this.#batcher.attach(handle);
    this.#batcher.onSchedule = () => {
      if (!this.#referenced) this.#setReferenced(true);
    };
    dispatcher.onEvent = (event) => this.#event(event);
    if (settings.clientCache !== null) {
      // Its invalidations are taken from the pushes here, before `onPush` is told of the rest: whatever pool owns
      // this core, a cache it does not feed would serve stale values for ever.
      const cache = this.cache = new ClientCache(settings.clientCache);
      dispatcher.onPush = (push, connection) => {
        if (!cache.push(push)) this.#onPush?.(push, connection);
      };
    }
    dispatcher.firstExclusive = this.size;
    dispatcher.endExclusive = this.size + settings.exclusiveConnections;
    this.#decoder.attach(this.#out);
    void this.#watch(handle, new WeakRef(this));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Exclusive connections come right after the shared ones; added (direct) ones after them. */
  #exclusive(route: number): boolean {
    return route >= this.size && route < this.size + this.#settings.exclusiveConnections;
  }

  /** Connections up now. */
  get connected(): number {
    const handle = this.#resources.handle;
    return handle === null ? 0 : native.cpipe_pool_connected(handle);
  }

  /** Connections whose socket the runtime reads now (see `#handOver`); for tests and diagnostics. */
  get runtimeReads(): number {
    let n = 0;
    for (const reader of this.#resources.readers.values()) n += reader.stopped ? 0 : 1;
    return n;
  }

  /** Commands sent or waiting to be sent, whose replies did not come yet. */
  get pending(): number {
    return this.#batcher.inFlight + this.#batcher.queued;
  }

  /**
   * Watches the notification socket. The listener reaches the core only
   * through a weak reference: the event loop must not keep a pool alive.
   */
  async #watch(handle: Handle, self: WeakRef<PoolCore>): Promise<void> {
    const resources = this.#resources;
    try {
      await prepare();
      if (resources.handle !== handle) return; // closed meanwhile: the pool closes the descriptor
      const fd = native.cpipe_pool_notify_fd(handle, 0);
      if (fd < 0) return;
      const notifier = await watch(fd, () => self.deref()?.drain(), () => native.cpipe_pool_notify_fd(handle, 1));
      if (resources.handle !== handle) {
        notifier.close();
        return;
      }
      resources.notifier = notifier;
      const core = self.deref();
      if (core !== undefined && core.#referenced) notifier.ref();
      else notifier.unref();
      core?.drain(); // records that came before the watch began
    } catch (e) {
      // Without a notifier no reply can arrive: fail what is pending and refuse the rest.
      const error = new CpipeError(`cpipe: cannot watch the pool's notification socket: ${e}`, { cause: e });
      const core = self.deref();
      if (core !== undefined) core.#shutdown(error);
    }
  }

  // ---- issuing commands ------------------------------------------------------

  /** Checks that another command may be queued; an error to reject it with otherwise. */
  refusal(): Error | null {
    if (this.#closed) return new ClosedError(`cpipe: the pool for ${this.address} is closed`);
    if (this.#batcher.queued >= this.#settings.maxQueued) {
      return new QueueFullError(
        `cpipe: ${this.#batcher.queued} commands already wait for the pool for ${this.address} (maxQueued)`,
      );
    }
    return null;
  }

  /**
   * Queues one command on a route (-1: shared) and returns its reply's
   * promise. Encoding errors reject it. `sameSession`: it needs the session the route's earlier commands gave state
   * to (an acquired connection's WATCH, MULTI, SELECT…), so it fails unsent if that connection dropped since.
   */
  call<T>(
    route: number,
    command: string,
    args: readonly Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
    sameSession = false,
  ): Promise<T> {
    // The cache sees keys as the server does: invalidations name them with the prefix.
    const sent = withKeyPrefixOrError(this.keyPrefix, command, args);
    if (sent instanceof Error) return Promise.reject(sent);
    const cache = this.cache;
    if (cache !== null) {
      if (route === -1) {
        const cached = cache.read(
          command,
          sent,
          transform,
          asBuffer,
          (fill) => this.#call(-1, command, sent, undefined, fill, asBuffer, false),
        );
        if (cached !== undefined) return cached;
      }
      // A write's keys are forgotten when it is sent (reads in flight are not cached) and when it is answered.
      const written = cache.written(command, sent);
      if (written !== null) {
        return cache.wrote(this.#call(route, command, sent, undefined, transform, asBuffer, sameSession), written);
      }
    }
    return this.#call(route, command, sent, undefined, transform, asBuffer, sameSession);
  }

  /**
   * `call` of a command with one argument on the shared connections (`GET key`): with no key prefix and no cache,
   * which would need the arguments as an array, it makes none (an allocation fewer a call; ARCHITECTURE.md, the
   * pool).
   */
  callOne<T>(command: string, arg: Arg, transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    if (this.keyPrefix !== null || this.cache !== null) return this.call(-1, command, [arg], transform, asBuffer);
    return this.#call(-1, command, null, arg, transform, asBuffer, false);
  }

  /**
   * Queues a command: its arguments, or with `args` null its one argument `one` (no default: an undefined argument
   * must reach the encoder, which refuses it).
   */
  #call<T>(
    route: number,
    command: string,
    args: readonly Arg[] | null,
    one: Arg | undefined,
    transform: Transform<T> | null,
    asBuffer: boolean,
    sameSession: boolean,
  ): Promise<T> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    const batcher = this.#batcher, segment = batcher.segment(route);
    // The segment goes in one submit (or parts of one, in order): its first command's need is the segment's.
    if (segment.count === 0) segment.sameSession = sameSession;
    const start = segment.encoder.length;
    try {
      if (args === null) segment.encoder.addOne(command, one as Arg);
      else segment.encoder.add(command, args);
    } catch (e) {
      return Promise.reject(e);
    }
    const dispatcher = this.#dispatcher;
    const at = segment.count;
    const promise = dispatcher.call(transform, asBuffer, segment.ids, at);
    this.onCall?.(segment.ids[at]!);
    // On an exclusive connection only a command that blocks by design waits past the command timeout.
    if (route >= 0 && this.#exclusive(route) && classify(command, args ?? [one as Arg]) === BLOCKING) {
      segment.blocking.push(at);
    }
    segment.starts[at] = start;
    segment.count = at + 1;
    batcher.queued++;
    batcher.schedule();
    // A long tick sends as it goes, so the server works while the rest is
    // encoded, and takes the replies already there: settled early, their
    // calls hold less memory for the garbage collector to go through.
    if (segment.count >= EARLY_FLUSH) {
      batcher.flush();
      const deferring = dispatcher.deferRejections; // true already in a drain's listener
      dispatcher.deferRejections = true;
      try {
        this.drain();
      } finally {
        dispatcher.deferRejections = deferring;
      }
    }
    return promise;
  }

  /**
   * Queues the commands of a pipeline (already encoded, one transform and
   * bytes flag per command) as one contiguous block on a route. The encoder
   * is taken over. `pin`: a block of a pipeline whose earlier blocks were sent
   * with `sendEarly` on the shared connections, to go where they went.
   * `blocking`: the indices of its commands that block by design, on an
   * exclusive route (exempt from the command timeout).
   * `sameSession`: as `call`'s.
   */
  group(
    route: number,
    encoder: CommandEncoder,
    starts: number[],
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
    ids: number[] = [],
    pin: Pin | null = null,
    blocking: readonly number[] = NOT_BLOCKING,
    sameSession = false,
  ): Promise<Reply[]> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    if (transforms.length === 0) return Promise.resolve([]);
    const promise = this.#dispatcher.group(transforms, asBuffer, ids);
    this.#batcher.block(
      route,
      encoder,
      starts,
      ids,
      pin,
      this.#exclusive(route) ? blocking : NOT_BLOCKING,
      sameSession,
    );
    this.#batcher.schedule();
    return promise;
  }

  /** An empty arena for the next block of a long pipeline (one a block already sent left, when there is one). */
  blockEncoder(): CommandEncoder {
    return this.#batcher.blockEncoder();
  }

  /**
   * Sends a block of a long pipeline now, before its `execute()`, so that the server works while the caller
   * queues the rest: as `group`, but the replies are kept encoded (the caller does not know yet whether it wants
   * bulk strings as bytes). `pin` (shared connections only): where the pipeline's blocks go, the same for all.
   */
  sendEarly(
    route: number,
    encoder: CommandEncoder,
    starts: number[],
    ids: number[],
    pin: Pin | null,
  ): Promise<KeptReplies> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    const promise = this.#dispatcher.keep(starts.length, ids);
    this.#batcher.block(route, encoder, starts, ids, pin);
    this.#batcher.schedule(); // keeps the process alive for the replies
    this.#batcher.flush();
    return promise;
  }

  // ---- for routers (src/cluster) ---------------------------------------------------

  /** Told the call id of each command `call` queues (a router keeps what it may have to send again). */
  onCall: ((id: number) => void) | null = null;

  /** Sees each error reply before its call settles; true when it took the reply (and re-issued the command). */
  set inspect(inspector: Inspector | null) {
    this.#dispatcher.inspect = inspector;
  }

  /** Per call id, what a router keeps to send the call again; dropped when the call is done (`Dispatcher.notes`). */
  get notes(): unknown[] {
    return this.#dispatcher.notes;
  }

  /** Sees each call that failed unsent before it is failed; true when it took the call (to re-issue it). */
  set takeBack(takeBack: TakeBack | null) {
    this.#dispatcher.takeBack = takeBack;
  }

  /**
   * Sends the command of a pending call again, on `route`, for the same caller (a redirection): by name and
   * arguments, or as an encoder packed it; after ASKING when `asking` (whose own reply is dropped). Nothing once
   * the pool is shut down (its calls were failed).
   */
  reissue(
    id: number,
    route: number,
    command: { readonly command: string; readonly args: readonly Arg[] } | Uint8Array,
    asking: boolean,
  ): void {
    // Shut down: every pending call was failed then. While closing, it may still go out.
    if (this.#resources.handle === null) return;
    const batcher = this.#batcher, segment = batcher.segment(route);
    if (asking) {
      const start = segment.encoder.length;
      segment.encoder.add("ASKING", []);
      // ASKING's own reply (OK) settles a call nobody awaits.
      const at = segment.count;
      this.#dispatcher.call(null, false, segment.ids, at).then(undefined, () => {});
      this.onCall?.(segment.ids[at]!);
      segment.starts[at] = start;
      segment.count = at + 1;
      batcher.queued++;
    }
    const start = segment.encoder.length;
    try {
      if (command instanceof Uint8Array) segment.encoder.addPacked(command, 0, command.length);
      else segment.encoder.add(command.command, command.args as Arg[]);
    } catch (e) {
      this.#dispatcher.fail(id, e as Error);
      return;
    }
    segment.ids[segment.count] = id;
    segment.starts[segment.count] = start;
    segment.count++;
    batcher.queued++;
    batcher.schedule();
  }

  /**
   * From now on, a single command on the shared connections that failed without leaving its connection (the
   * server never saw it) is not failed but sent again: the core hands its command back with the failure, and it
   * waits for a shared connection that is up as a command issued now would (the offline queue, at most
   * `offlineTimeout`), at most MAX_TAKE_BACKS times. node-redis does the same; a command that may have run still
   * fails (`ConnectionError`, not `unsent`), and so does a pipeline's (its commands go together or not at all).
   * With `offlineQueue: false` nothing waits, so nothing is sent again. For the plain pool: a cluster and a
   * sentinel pool send such calls again themselves.
   */
  sendUnsentAgain(): void {
    if (!this.#settings.offlineQueue) return;
    this.#batcher.resendUnsent = true;
    const dispatcher = this.#dispatcher;
    this.takeBack = (id, _error, connection, command) => {
      if (command === null || this.#closed || connection < 0 || connection >= this.size) return false;
      if (dispatcher.takeBacks(id) > MAX_TAKE_BACKS) return false;
      // Not at once: a drain may run inside the batcher's submit (a long tick's early flush).
      queueMicrotask(() => this.reissue(id, -1, command, false));
      return true;
    };
  }

  /** Fails a pending call (a router gave up on it). */
  failCall(id: number, error: Error): void {
    this.#dispatcher.fail(id, error);
    this.#checkIdle();
  }

  // ---- records -------------------------------------------------------------------

  /**
   * Takes every record the core holds and hands each to its caller. A listener it calls may issue a long burst,
   * whose early send drains again: that nested drain only asks this one to look again, since it would overwrite the
   * records this one is still reading (the messages after the listener's would be lost, replies misread).
   */
  drain(): void {
    if (this.#resources.handle === null) return;
    if (this.#draining) {
      this.#drainAgain = true;
      return;
    }
    this.#draining = true;
    try {
      do {
        this.#drainAgain = false;
        this.#takeRecords();
      } while (this.#drainAgain);
    } finally {
      this.#draining = false;
    }
    if (this.#out.length > OUT_RETAIN_LIMIT) this.#replaceOut(new Uint8Array(OUT_SIZE));
    if (this.#batcher.waiting) this.#batcher.submitQueue();
    this.#checkIdle();
  }

  #takeRecords(): void {
    const records = this.#records, batcher = this.#batcher;
    for (;;) {
      // Read each time: a listener may have closed the pool.
      const handle = this.#resources.handle;
      if (handle === null) return;
      const out = this.#out;
      native.cpipe_pool_drain(handle, out, out.length);
      records.attach(out);
      const count = records.header(0);
      // Not `inFlight -= deliver(…)`: that reads inFlight before the listeners deliver calls, and what they submit
      // would be forgotten (a close from a listener then shut in-flight calls down).
      const answered = this.#dispatcher.deliver(records, this.#decoder);
      batcher.inFlight -= answered;
      const need = records.header(3);
      if (count === 0 && need > 0) {
        this.#replaceOut(new Uint8Array(Header.SIZE + need));
        continue;
      }
      if ((records.header(2) & Header.FLAG_MORE) === 0) return;
    }
  }

  /**
   * Lets the runtime read a shared connection (or an added one that asked for it) that came up
   * (`cpipe_pool_hand_over`): its replies then wake this thread alone, with no hop through the I/O thread and
   * the notification socket. Not for TLS (the core decrypts), a paused connection, or where descriptors cannot
   * be shared (Windows): those stay with the I/O thread. Nor with the client-side cache: an invalidation that
   * reached one connection before a reply reached another must be seen first, and the I/O thread reads every
   * ready socket before the host drains, where the runtime calls back per socket (a read could then settle
   * before an invalidation it follows). `flags`: `CPIPE_HAND_OVER_*`.
   */
  #handOver(connection: number, flags: number): void {
    const resources = this.#resources, handle = resources.handle;
    if (handle === null) return;
    // Refused when this connect was handed over already: UP records are drained late, so one may name an
    // earlier connect while the connection is up again and read by the reader an earlier UP made.
    const fd = native.cpipe_pool_hand_over(handle, connection, flags);
    if (fd < 0) return;
    // The socket read before belonged to an earlier connect, which failed (the core ended it).
    resources.readers.get(connection)?.stop();
    const self = new WeakRef(this);
    const reader = new RuntimeReader(handle, connection, fd, () => {
      const core = self.deref();
      return core === undefined || resources.handle !== handle ? undefined : core.#drainNow;
    });
    resources.readers.set(connection, reader);
  }

  readonly #drainNow = (): void => this.drain();

  #replaceOut(out: Uint8Array): void {
    this.#out = out;
    this.#decoder.attach(out);
  }

  #event(event: ConnectionEvent): void {
    if (event.type === "released") {
      this.#serveAcquireWaiters();
      return;
    }
    if (event.type === "down") {
      // The server forgot what a dropped connection read: no invalidation would come for it.
      this.cache?.flush();
    }
    // Not with the client-side cache: it relies on every connection's records arriving in one drain (#handOver).
    const connection = event.connection;
    if (event.type === "up" && this.cache === null) {
      const flags = connection < this.size ? 0 : this.#runtimeReadable.get(connection);
      if (flags !== undefined) this.#handOver(connection, flags);
    }
    // A connection is up: what waited in the offline queue goes out (after this drain).
    if (event.type === "up" && this.#offlineTimer !== undefined) {
      clearTimeout(this.#offlineTimer);
      this.#offlineTimer = undefined;
    }
    this.onEvent?.(event);
  }

  // ---- the offline queue -------------------------------------------------------------

  #offlineTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Every shared connection is down: commands wait for one (`offlineQueue`,
   * at most `offlineTimeout` ms each), else they fail now.
   */
  #offline(): boolean {
    const settings = this.#settings;
    // Also while closing: what was issued before close() may still go out within closeTimeout.
    if (!settings.offlineQueue) return false;
    if (settings.offlineTimeout > 0 && this.#offlineTimer === undefined) this.#armOfflineTimer();
    return true;
  }

  #armOfflineTimer(): void {
    const oldest = this.#batcher.oldestQueuedAt;
    if (oldest === 0) return;
    const wait = Math.max(0, oldest + this.#settings.offlineTimeout - Date.now());
    this.#offlineTimer = setTimeout(this.#offlineExpired, wait);
  }

  readonly #offlineExpired = (): void => {
    this.#offlineTimer = undefined;
    const handle = this.#resources.handle;
    if (handle === null) return;
    this.#batcher.submitQueue(); // one may be up by now
    const limit = this.#settings.offlineTimeout;
    const why = this.#batcher.errstr(handle).replace(/^no connection is up: /, "");
    const error = offlineTimeoutError(`no connection to ${this.address} came up`, limit, why);
    this.#batcher.expire(Date.now() - limit, error);
    if (this.#batcher.waiting) this.#armOfflineTimer();
    this.#checkIdle();
  };

  /**
   * Fails with `error` every command not sent yet: the offline queue's, and this tick's. For an owner that
   * leaves this pool's server for good (a sentinel pool at a failover) and sends them again to the next one.
   */
  failUnsent(error: ConnectionError): void {
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = undefined;
    this.#batcher.drop(error);
    this.#checkIdle();
  }

  // ---- exclusive connections ------------------------------------------------------

  /**
   * Acquires an exclusive connection, waiting for one when all are taken, at
   * most `acquireTimeout` ms.
   */
  acquire(): Promise<number> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    if (this.#settings.exclusiveConnections === 0) {
      return Promise.reject(
        new CpipeError(`cpipe: the pool for ${this.address} has no exclusive connections (exclusiveConnections: 0)`),
      );
    }
    const connection = this.#tryAcquire();
    if (connection instanceof Error) return Promise.reject(connection);
    if (connection >= 0) return Promise.resolve(connection);
    if (!this.#referenced) this.#setReferenced(true);
    return new Promise((resolve, reject) => {
      const waiter: AcquireWaiter = { resolve, reject, timer: undefined };
      const wait = this.#settings.acquireTimeout;
      if (wait > 0) {
        waiter.timer = setTimeout(() => {
          const at = this.#acquireWaiters.indexOf(waiter);
          if (at >= 0) this.#acquireWaiters.splice(at, 1);
          reject(
            new TimeoutError(
              `cpipe: all ${this.#settings.exclusiveConnections} exclusive connections of the pool for ${this.address} ` +
                `stayed busy for ${wait} ms (blocking commands and acquire() use them): ` +
                "raise exclusiveConnections or acquireTimeout, or release connections sooner",
            ),
          );
          this.#checkIdle();
        }, wait);
      }
      this.#acquireWaiters.push(waiter);
    });
  }

  /** A connection acquired now, -1 when none is free, or why acquiring failed. */
  #tryAcquire(): number | Error {
    const handle = this.#resources.handle;
    if (handle === null) return new ClosedError(`cpipe: the pool for ${this.address} is closed`);
    const connection = native.cpipe_pool_acquire(handle);
    if (connection >= 0) {
      this.#acquired.add(connection);
      return connection;
    }
    if (connection === Status.ERR_BUSY) return -1;
    return errorFromStatus(connection, this.#batcher.errstr(handle));
  }

  #serveAcquireWaiters(): void {
    while (this.#acquireWaiters.length > 0) {
      const next = this.#tryAcquire();
      if (typeof next === "number" && next < 0) break;
      const waiter = this.#acquireWaiters.shift()!;
      clearTimeout(waiter.timer);
      if (typeof next === "number") waiter.resolve(next);
      else waiter.reject(next);
    }
    this.#checkIdle();
  }

  /**
   * Gives an acquired connection back. Commands already issued on it still
   * get their replies; then it waits for the next caller (`keep`) or is closed (its state may
   * differ from a fresh one's).
   */
  release(connection: number, keep: boolean): void {
    const handle = this.#resources.handle;
    if (!this.#acquired.delete(connection) || handle === null) return;
    this.#batcher.flush(); // what was queued on it goes first
    native.cpipe_pool_release(handle, connection, keep ? 1 : 0);
  }

  /**
   * Adds a connection of its own to another server (or the same), for
   * routers: commands reach it by its index. See `cpipe_pool_add`.
   * `handOver`: the runtime reads its replies (see `#handOver`), with these
   * `CPIPE_HAND_OVER_*` flags (a subscriber's: `PARSE_ASIDE`, its floods
   * parsed by the I/O thread beside the JavaScript that handles them); null:
   * the I/O thread reads it (a blocking command's connection).
   */
  addConnection(settingsBytes: Uint8Array, role: number = Role.DIRECT, handOver: number | null = null): number {
    const handle = this.#resources.handle;
    if (handle === null) throw new ClosedError(`cpipe: the pool for ${this.address} is closed`);
    const connection = native.cpipe_pool_add(handle, settingsBytes, settingsBytes.length, role);
    if (connection < 0) throw errorFromStatus(connection, this.#batcher.errstr(handle));
    if (handOver !== null) this.#runtimeReadable.set(connection, handOver);
    else this.#runtimeReadable.delete(connection);
    return connection;
  }

  /** Added connections to hand over when they come up, with their flags (the shared ones always are, with none). */
  readonly #runtimeReadable = new Map<number, number>();

  // ---- Pub/Sub --------------------------------------------------------------------------

  /** Hands each push record, still encoded, to `take` first (Pub/Sub messages); the rest go to `onPush`. */
  set onPushRecord(take: ((bytes: Uint8Array, start: number, connection: number) => boolean) | null) {
    this.#dispatcher.onPushRecord = take;
  }

  /** Told of pushes no subscription took (nor the client-side cache: its invalidations). */
  set onPush(listener: ((push: Reply, connection: number) => void) | null) {
    this.#onPush = listener;
    // Without a cache, no listener means pushes are not even decoded.
    if (this.cache === null) this.#dispatcher.onPush = listener;
  }

  #onPush: ((push: Reply, connection: number) => void) | null = null;

  /**
   * Sends a (un)subscription (`flags`: its `Call` kind) on one connection
   * at once: it owes one confirmation per name, gathered into its reply.
   */
  pubsubCall(route: number, command: string, names: readonly string[], flags: number): Promise<Reply> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    const handle = this.#resources.handle!;
    const encoder = new CommandEncoder();
    encoder.add(command, names);
    const ids: number[] = [];
    const promise = this.#dispatcher.call<Reply>(null, false, ids, 0);
    this.onCall?.(ids[0]!); // a router must not take it for a command it may send again
    const calls = new Uint8Array(Call.SIZE), view = new DataView(calls.buffer);
    view.setUint32(0, ids[0]!, true);
    view.setUint16(4, names.length, true);
    view.setUint16(6, flags, true);
    const rc = native.cpipe_pool_submit(handle, encoder.bytes, encoder.length, calls, Call.SIZE, route);
    if (rc < 0) {
      this.#dispatcher.fail(ids[0]!, errorFromStatus(rc, this.#batcher.errstr(handle), undefined, true));
      return promise;
    }
    this.#batcher.inFlight++;
    if (!this.#referenced) this.#setReferenced(true);
    return promise;
  }

  /** Stops or resumes reading one connection (a subscriber whose consumer is slow). */
  pause(connection: number, paused: boolean): void {
    const handle = this.#resources.handle;
    if (handle === null) return;
    native.cpipe_pool_pause(handle, connection, paused ? 1 : 0);
    // The runtime reads a handed-over connection: it stops too, and the server's output buffer holds the rest.
    // (A connection paused when it comes up is not handed over: the core refuses.)
    this.#resources.readers.get(connection)?.pause(paused);
  }

  /** Live subscriptions: messages may come at any time, so the pool keeps the process alive. */
  #holds = 0;

  /** Counts a reason to stay referenced (1) or its end (-1). */
  hold(delta: 1 | -1): void {
    this.#holds += delta;
    if (delta > 0 && !this.#referenced && this.#resources.handle !== null) this.#setReferenced(true);
    else this.#checkIdle();
  }

  /**
   * Closes a connection added with `addConnection`; its pending calls reject with ClosedError, or, `lost`, as on a
   * dropped connection (see `Dispatcher.removedAsLost`): the pool stays open and a router may send again what never
   * left.
   */
  removeConnection(connection: number, lost = false): void {
    const handle = this.#resources.handle;
    if (handle === null) return;
    if (native.cpipe_pool_remove(handle, connection) === Status.OK && lost) this.#dispatcher.removedAsLost(connection);
    this.#resources.readers.get(connection)?.stop();
    this.#resources.readers.delete(connection);
    this.#runtimeReadable.delete(connection);
    this.drain();
  }

  // ---- lifecycle ----------------------------------------------------------------------

  /** Commands not yet answered on shared connections (those on exclusive ones may block for ever). */
  get #sharedPending(): number {
    const batcher = this.#batcher;
    const exclusive = batcher.submittedExclusive - this.#dispatcher.finishedExclusive;
    return batcher.inFlight - exclusive + batcher.queued;
  }

  get #busy(): boolean {
    return this.#batcher.inFlight + this.#batcher.queued > 0 || this.#acquireWaiters.length > 0 || this.#holds > 0;
  }

  readonly #unrefIfIdle = (): void => {
    this.#unrefQueued = false;
    if (this.#busy) return;
    if (this.#referenced) this.#setReferenced(false);
  };

  #setReferenced(on: boolean): void {
    this.#referenced = on;
    if (on) working.add(this);
    else working.delete(this);
    const notifier = this.#resources.notifier;
    if (notifier === null) return;
    if (on) notifier.ref();
    else notifier.unref();
  }

  #checkIdle(): void {
    if (this.#busy) {
      if (this.#idleWaiters.length > 0 && this.#sharedPending === 0) this.#wakeIdleWaiters();
      return;
    }
    // Callers that were just answered usually issue more in the microtasks
    // that follow: let go of the event loop only if they did not.
    if (this.#referenced && !this.#unrefQueued) {
      this.#unrefQueued = true;
      queueMicrotask(this.#unrefIfIdle);
    }
    this.#wakeIdleWaiters();
  }

  #wakeIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length > 0) {
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Stops accepting commands, lets those issued on shared connections
   * finish (at most `closeTimeout` ms; commands on exclusive connections,
   * which may block for ever, are not waited for), then stops the I/O thread
   * and frees everything. Commands still unanswered reject with `ClosedError`.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    this.#closing = this.#closeNow();
    return this.#closing;
  }

  async #closeNow(): Promise<void> {
    if (this.#resources.handle === null) return;
    this.#batcher.flush();
    const closed = new ClosedError(`cpipe: the pool for ${this.address} is closed`);
    for (const waiter of this.#acquireWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(closed);
    }
    if (this.#sharedPending > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        timer = setTimeout(resolve, this.#settings.closeTimeout);
      });
      clearTimeout(timer);
    }
    this.#shutdown(closed);
  }

  /** Frees everything now; every command still pending rejects with `error`. */
  #shutdown(error: Error): void {
    const handle = this.#resources.handle;
    if (handle === null) return;
    this.#closed = true;
    native.cpipe_pool_close(handle); // joins the I/O thread; unanswered calls get failure records
    this.drain();
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = undefined;
    this.#batcher.drop(error);
    this.#batcher.attach(null);
    // Whatever the core could not answer (it was out of memory) is answered here: no promise hangs.
    this.#dispatcher.failAll(error);
    for (const waiter of this.#acquireWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#acquired.clear();
    orphans.unregister(this);
    free(this.#resources);
    this.#batcher.inFlight = 0;
    this.#checkIdle();
    if (this.#referenced) this.#setReferenced(false);
  }
}
