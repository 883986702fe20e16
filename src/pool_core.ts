/**
 * The JavaScript half of a pool: it encodes the commands of one tick into a
 * segment, submits each segment to the native core in one call (microtask
 * flush), and when the core's I/O thread signals completions, drains them
 * all in one call and settles their promises. See `csrc/cpipe.h` for the
 * native half.
 */
import { native } from "../ffi/load.ts";
import type { Handle } from "../ffi/symbols.ts";
import { applyTransforms, type Transform } from "./commands.ts";
import { CallTable, Group } from "./call_table.ts";
import { HEADER_SIZE, ReplyDecoder } from "./decoder.ts";
import { CommandEncoder } from "./encoder.ts";
import { ClosedError, CpipeError } from "./errors.ts";
import { ERR_BUSY, errorFromStatus } from "./status.ts";
import { type Notifier, prepare, watch } from "./notifier.ts";
import type { Arg, Reply } from "./types.ts";

const FLAG_MORE = 0x2;
const FAILURE_TAG = 0x21; // '!'
const OUT_SIZE = 256 * 1024;
const OUT_RETAIN_LIMIT = 16 * 1024 * 1024;
/** A segment's commands go to the core in submits of at most about this many bytes. */
const SUBMIT_BYTES = 1024 * 1024;
/**
 * A tick's commands are spread over the connections in parts of at least
 * this many: replies then come back from several connections at different
 * moments, and callers that wait on each other do not march in lockstep.
 */
const MIN_PART = 5;
/** A tick that issues this many commands on a route submits them without waiting for its end. */
const EARLY_FLUSH = 4096;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Settings of a pool's core, checked by the caller. */
export interface CoreSettings {
  host: string;
  port: number;
  size: number;
  exclusive: number;
  connectTimeout: number;
  commandTimeout: number;
  reconnectMaxDelay: number;
  maxInFlight: number;
  maxQueued: number;
  closeTimeout: number;
  handshake: CommandEncoder;
}

/** The pool's queue is full: too many commands wait for the server. */
export class QueueFullError extends CpipeError {
  /** Always `"QueueFullError"`. */
  override name = "QueueFullError";
}

/** Commands issued together for one connection (or one route), in order. */
class Segment {
  encoder = new CommandEncoder();
  /** Call ids, one per command. */
  ids: number[] = [];
  /** Where each command starts in the encoder. */
  starts: number[] = [];
  /** -1 for any shared connection, else an exclusive connection's index. */
  route = -1;
  /** A pipeline: every part goes to the connection of the first. */
  whole = false;
  /** The connection its first part went to, or -1. */
  slot = -1;
  /** Commands submitted so far. */
  sent = 0;

  reset(): void {
    this.encoder.reset();
    this.ids.length = 0;
    this.starts.length = 0;
    this.route = -1;
    this.whole = false;
    this.slot = -1;
    this.sent = 0;
  }
}

/**
 * One executor for every call's promise: it hands over the promise's resolve
 * function without a closure made per call. Only `resolve` is kept: a call
 * fails by being resolved with a rejected promise, so that a pending call
 * holds one function fewer (100,000 pending calls are a lot for a young
 * generation to copy).
 */
const captured = { resolve: undefined as unknown as (value: unknown) => void };
function capture(resolve: (value: never) => void): void {
  captured.resolve = resolve as (value: unknown) => void;
}

/** Frees native pools whose owners were collected without close(). */
const orphans = new FinalizationRegistry<Handle>((handle) => native.cpipe_pool_free(handle));

export class PoolCore {
  readonly address: string;
  readonly size: number;
  #handle: Handle | null;
  #notifier: Notifier | null = null;
  #referenced = false;
  #unrefQueued = false;
  readonly #settings: CoreSettings;

  readonly #table = new CallTable();
  readonly #decoder = new ReplyDecoder();
  #out: Uint8Array = new Uint8Array(OUT_SIZE);
  #outView: DataView = new DataView(this.#out.buffer);
  #ids: Uint8Array = new Uint8Array(4096);
  #idsView: DataView = new DataView(this.#ids.buffer);
  #errbuf = new Uint8Array(512);

  /** The open segment of each route this tick (index 0: shared; slot + 1 otherwise). */
  #open: (Segment | undefined)[] = [];
  /** Segments closed and waiting to be submitted, oldest first. */
  #queue: Segment[] = [];
  #queueHead = 0;
  #spare: Segment[] = [];
  #flushScheduled = false;
  /** Commands submitted whose completions were not drained yet. */
  #inFlight = 0;
  /** Commands encoded and not yet submitted. */
  #queued = 0;

  #leaseWaiters: { resolve(slot: number): void; reject(error: Error): void }[] = [];
  readonly #leased = new Set<number>();
  #idleWaiters: (() => void)[] = [];
  #closed = false;
  #closing: Promise<void> | null = null;

  constructor(settings: CoreSettings) {
    this.#settings = settings;
    this.size = settings.size;
    this.address = settings.host.startsWith("/") ? settings.host : `${settings.host}:${settings.port}`;
    const host = utf8.encode(settings.host);
    const hs = settings.handshake;
    const handle = native.cpipe_pool_create(
      host,
      host.length,
      settings.port,
      settings.size,
      settings.exclusive,
      settings.connectTimeout,
      settings.commandTimeout,
      settings.reconnectMaxDelay,
      settings.maxInFlight,
      hs.bytes,
      hs.length,
    );
    hs.reset();
    if (handle === null) throw new CpipeError(`cpipe: cannot create a pool for ${this.address}`);
    this.#handle = handle;
    orphans.register(this, handle, this);
    this.#decoder.attach(this.#out);
    this.#attach(handle);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Connections up now. */
  get connected(): number {
    return this.#handle === null ? 0 : native.cpipe_pool_connected(this.#handle);
  }

  /** Commands sent or waiting to be sent, whose replies did not come yet. */
  get pending(): number {
    return this.#inFlight + this.#queued;
  }

  async #attach(handle: Handle): Promise<void> {
    try {
      await prepare();
      if (this.#handle !== handle) return; // closed meanwhile: the pool closes the descriptor
      const fd = native.cpipe_pool_notify_fd(handle, 0);
      if (fd < 0) return;
      const notifier = await watch(fd, this.#onWake, () => native.cpipe_pool_notify_fd(handle, 1));
      if (this.#handle !== handle) {
        notifier.close();
        return;
      }
      this.#notifier = notifier;
      if (this.#referenced) notifier.ref();
      else notifier.unref();
      this.#drain(); // completions that came before the watch began
    } catch (e) {
      // Without a notifier no reply can arrive: fail what is pending and refuse the rest.
      const error = new CpipeError(`cpipe: cannot watch the pool's notification socket: ${e}`, { cause: e });
      this.#shutdown(error);
    }
  }

  readonly #onWake = (): void => {
    this.#drain();
  };

  // ---- issuing commands ------------------------------------------------------

  /** Checks that another command may be queued; an error to reject it with otherwise. */
  refusal(): Error | null {
    if (this.#closed) return new ClosedError(`cpipe: the pool for ${this.address} is closed`);
    if (this.#queued >= this.#settings.maxQueued) {
      return new QueueFullError(
        `cpipe: ${this.#queued} commands already wait for the pool for ${this.address} (maxQueued)`,
      );
    }
    return null;
  }

  /**
   * Queues one command on a route (-1: shared) and returns its reply's
   * promise. Encoding errors reject it.
   */
  call<T>(
    route: number,
    command: string,
    args: readonly Arg[],
    transform: Transform<T> | null,
    asBuffer: boolean,
  ): Promise<T> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    const segment = this.#segmentFor(route);
    const start = segment.encoder.length;
    try {
      segment.encoder.add(command, args);
    } catch (e) {
      return Promise.reject(e);
    }
    const table = this.#table, id = table.alloc();
    segment.ids.push(id);
    segment.starts.push(start);
    table.transform[id] = transform as Transform<unknown> | null;
    table.asBuffer[id] = asBuffer ? 1 : 0;
    const promise = new Promise<T>(capture);
    table.resolve[id] = captured.resolve;
    this.#queued++;
    this.#schedule();
    // A long tick sends as it goes, so the server works while the rest is
    // encoded, and takes the replies already there: settled early, their
    // calls hold less memory for the garbage collector to go through.
    if (segment.ids.length >= EARLY_FLUSH) {
      this.#flushNow();
      this.#drain();
    }
    return promise;
  }

  /**
   * Queues the commands of a pipeline (already encoded, one transform and
   * bytes flag per command) as one contiguous block on a route. The encoder
   * is taken over.
   */
  group(
    route: number,
    encoder: CommandEncoder,
    starts: number[],
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
  ): Promise<Reply[]> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    if (transforms.length === 0) return Promise.resolve([]);
    // What this route queued before comes first, then the block, alone in its segment.
    this.#close(route);
    const segment = this.#spare.pop() ?? new Segment();
    segment.encoder = encoder; // taken over: the pipeline starts a new one
    segment.starts = starts;
    segment.route = route;
    segment.whole = true;
    let group!: Group;
    const promise = new Promise<Reply[]>((resolve, reject) => {
      group = new Group(transforms, resolve, reject);
    });
    const table = this.#table;
    for (let i = 0; i < transforms.length; i++) {
      const id = table.alloc();
      table.group[id] = group;
      table.index[id] = i;
      table.asBuffer[id] = asBuffer[i] ? 1 : 0;
      segment.ids.push(id);
    }
    this.#queue.push(segment);
    this.#queued += transforms.length;
    this.#schedule();
    return promise;
  }

  #segmentFor(route: number): Segment {
    const key = route + 1;
    let segment = this.#open[key];
    if (segment === undefined) {
      segment = this.#spare.pop() ?? new Segment();
      segment.route = route;
      this.#open[key] = segment;
    }
    return segment;
  }

  /** Moves a route's open segment to the queue. */
  #close(route: number): void {
    const key = route + 1, segment = this.#open[key];
    if (segment === undefined) return;
    this.#open[key] = undefined;
    if (segment.ids.length === 0) this.#spare.push(segment);
    else this.#queue.push(segment);
  }

  #schedule(): void {
    if (!this.#referenced) this.#setReferenced(true);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.#flushNow();
  };

  #flushNow(): void {
    const open = this.#open;
    for (let key = 0; key < open.length; key++) if (open[key] !== undefined) this.#close(key - 1);
    this.#submitQueue();
  }

  #submitQueue(): void {
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const segment = queue[this.#queueHead];
      if (!this.#submit(segment)) break;
      queue[this.#queueHead++] = undefined as unknown as Segment;
      this.#recycle(segment);
    }
    if (this.#queueHead === queue.length) {
      queue.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > queue.length) {
      queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #recycle(segment: Segment): void {
    segment.reset();
    if (this.#spare.length < 16) this.#spare.push(segment);
  }

  /**
   * Submits what the window allows of a segment; true when all of it went.
   * A pipeline goes whole to one connection (in parts if large, all to the
   * connection of the first); the other commands of a tick are spread over
   * the least busy connections.
   */
  #submit(segment: Segment): boolean {
    const handle = this.#handle!;
    const n = segment.ids.length, starts = segment.starts, ids = segment.ids;
    const maxInFlight = this.#settings.maxInFlight;
    const spread = !segment.whole && segment.route < 0;
    const part = spread ? Math.max(MIN_PART, Math.ceil(n / this.size)) : n;
    while (segment.sent < n) {
      const room = maxInFlight - this.#inFlight;
      if (room <= 0) return false;
      const from = segment.sent, start = starts[from];
      let to = from + (room < part ? room : part);
      if (to > n) to = n;
      // Keep each submit to about SUBMIT_BYTES (at least one command).
      if ((to < n ? starts[to] : segment.encoder.length) - start > SUBMIT_BYTES) {
        let lo = from + 1, hi = to;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (starts[mid] - start <= SUBMIT_BYTES) lo = mid;
          else hi = mid - 1;
        }
        to = lo;
      }
      const end = to < n ? starts[to] : segment.encoder.length;
      const count = to - from;
      if (this.#ids.length < count * 4) {
        this.#ids = new Uint8Array(Math.max(count * 4, this.#ids.length * 2));
        this.#idsView = new DataView(this.#ids.buffer);
      }
      const view = this.#idsView;
      for (let k = 0; k < count; k++) view.setUint32(k * 4, ids[from + k], true);
      const route = segment.route >= 0 ? segment.route : spread ? -1 : segment.slot;
      const bytes = start === 0 ? segment.encoder.bytes : segment.encoder.bytes.subarray(start, end);
      const rc = native.cpipe_pool_submit(handle, bytes, end - start, this.#ids, count * 4, route);
      if (rc >= 0) {
        if (segment.slot < 0) segment.slot = rc;
        this.#inFlight += count;
        this.#queued -= count;
        segment.sent = to;
        continue;
      }
      if (rc === ERR_BUSY) return false;
      const error = errorFromStatus(rc, this.#errstr(handle));
      this.#queued -= count;
      segment.sent = to;
      for (let k = from; k < to; k++) this.#fail(ids[k], error);
    }
    return true;
  }

  // ---- completions -------------------------------------------------------------

  #drain(): void {
    const handle = this.#handle;
    if (handle === null) return;
    const table = this.#table, decoder = this.#decoder;
    for (;;) {
      const out = this.#out, view = this.#outView;
      native.cpipe_pool_drain(handle, out, out.length);
      const records = view.getUint32(0, true);
      let pos = HEADER_SIZE;
      for (let i = 0; i < records; i++) {
        const id = view.getUint32(pos, true), len = view.getUint32(pos + 4, true);
        pos += 8;
        if (out[pos] === FAILURE_TAG) {
          const code = view.getInt32(pos + 1, true), size = view.getUint32(pos + 5, true);
          this.#fail(id, errorFromStatus(code, fromUtf8.decode(out.subarray(pos + 9, pos + 9 + size))));
        } else {
          decoder.pos = pos;
          decoder.asBuffer = table.asBuffer[id] === 1;
          let reply: Reply;
          try {
            reply = decoder.next();
          } catch (e) {
            reply = new CpipeError(`cpipe: cannot decode a reply: ${e}`);
          }
          this.#settle(id, reply);
        }
        pos += len;
      }
      this.#inFlight -= records;
      const need = view.getUint32(12, true);
      if (records === 0 && need > 0) {
        this.#replaceOut(new Uint8Array(HEADER_SIZE + need));
        continue;
      }
      if ((view.getUint32(8, true) & FLAG_MORE) === 0) break;
    }
    if (this.#out.length > OUT_RETAIN_LIMIT) this.#replaceOut(new Uint8Array(OUT_SIZE));
    if (this.#queueHead < this.#queue.length) this.#submitQueue();
    this.#checkIdle();
  }

  #replaceOut(out: Uint8Array): void {
    this.#out = out;
    this.#outView = new DataView(out.buffer);
    this.#decoder.attach(out);
  }

  #settle(id: number, reply: Reply): void {
    const table = this.#table;
    const resolve = table.resolve[id];
    if (resolve !== undefined) {
      const transform = table.transform[id];
      table.release(id);
      if (reply instanceof Error) resolve(Promise.reject(reply));
      else if (transform === null) resolve(reply);
      else {
        try {
          resolve(transform(reply));
        } catch (e) {
          resolve(Promise.reject(e));
        }
      }
      return;
    }
    const group = table.group[id];
    const index = table.index[id];
    table.release(id);
    if (group === undefined) return;
    group.replies[index] = reply;
    if (--group.remaining === 0) this.#finish(group);
  }

  #fail(id: number, error: Error): void {
    const table = this.#table;
    const resolve = table.resolve[id];
    if (resolve !== undefined) {
      table.release(id);
      resolve(Promise.reject(error));
      return;
    }
    const group = table.group[id];
    table.release(id);
    if (group === undefined) return;
    group.failure ??= error;
    if (--group.remaining === 0) this.#finish(group);
  }

  #finish(group: Group): void {
    if (group.failure !== null) return group.reject(group.failure);
    let replies: Reply[];
    try {
      replies = applyTransforms(group.replies, group.transforms);
    } catch (e) {
      return group.reject(e as Error);
    }
    group.resolve(replies);
  }

  // ---- exclusive connections ------------------------------------------------------

  /** Leases an exclusive connection, waiting for one when all are leased. */
  lease(): Promise<number> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    if (this.#settings.exclusive === 0) {
      return Promise.reject(
        new CpipeError(`cpipe: the pool for ${this.address} has no exclusive connections (exclusiveConnections: 0)`),
      );
    }
    const slot = native.cpipe_pool_lease(this.#handle!);
    if (slot >= 0) {
      this.#leased.add(slot);
      return Promise.resolve(slot);
    }
    if (slot !== ERR_BUSY) return Promise.reject(errorFromStatus(slot, this.#errstr(this.#handle!)));
    if (!this.#referenced) this.#setReferenced(true);
    return new Promise((resolve, reject) => this.#leaseWaiters.push({ resolve, reject }));
  }

  /** Ends a lease; `keep` false closes the connection (its state may differ from a fresh one's). */
  release(slot: number, keep: boolean): void {
    if (!this.#leased.delete(slot) || this.#handle === null) return;
    this.#flushNow(); // what was queued on it goes first, then fails when the connection is closed
    native.cpipe_pool_release(this.#handle, slot, keep ? 1 : 0);
    while (this.#leaseWaiters.length > 0) {
      const next = native.cpipe_pool_lease(this.#handle);
      if (next < 0) break;
      this.#leased.add(next);
      this.#leaseWaiters.shift()!.resolve(next);
    }
    this.#checkIdle();
  }

  // ---- lifecycle ----------------------------------------------------------------------

  readonly #unrefIfIdle = (): void => {
    this.#unrefQueued = false;
    if (this.#inFlight + this.#queued > 0 || this.#leaseWaiters.length > 0) return;
    if (this.#referenced) this.#setReferenced(false);
  };

  #setReferenced(on: boolean): void {
    this.#referenced = on;
    const notifier = this.#notifier;
    if (notifier === null) return;
    if (on) notifier.ref();
    else notifier.unref();
  }

  #checkIdle(): void {
    if (this.#inFlight + this.#queued > 0 || this.#leaseWaiters.length > 0) return;
    // Callers that were just answered usually issue more in the microtasks
    // that follow: let go of the event loop only if they did not.
    if (this.#referenced && !this.#unrefQueued) {
      this.#unrefQueued = true;
      queueMicrotask(this.#unrefIfIdle);
    }
    const waiters = this.#idleWaiters;
    if (waiters.length > 0) {
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Stops accepting commands, lets those issued before finish (at most
   * `closeTimeout` ms; commands on exclusive connections, which may block
   * for ever, are cancelled at once), then stops the I/O thread and frees
   * everything. Commands still unanswered reject with `ClosedError`.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    this.#closing = this.#closeNow();
    return this.#closing;
  }

  async #closeNow(): Promise<void> {
    const handle = this.#handle;
    if (handle === null) return;
    this.#flushNow();
    const closed = new ClosedError(`cpipe: the pool for ${this.address} is closed`);
    for (const waiter of this.#leaseWaiters.splice(0)) waiter.reject(closed);
    for (const slot of [...this.#leased]) this.release(slot, false);
    if (this.#inFlight + this.#queued > 0) {
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
    const handle = this.#handle;
    if (handle === null) return;
    this.#closed = true;
    native.cpipe_pool_close(handle); // joins the I/O thread; unanswered commands get failure records
    this.#drain();
    // Segments never submitted.
    const queue = this.#queue;
    for (let i = this.#queueHead; i < queue.length; i++) {
      const segment = queue[i];
      for (let k = segment.sent; k < segment.ids.length; k++) this.#fail(segment.ids[k], error);
    }
    queue.length = 0;
    this.#queueHead = 0;
    for (const segment of this.#open) {
      if (segment !== undefined) { for (const id of segment.ids) this.#fail(id, error); }
    }
    this.#open = [];
    this.#queued = 0;
    // Whatever the core could not answer (it was out of memory) is answered here: no promise hangs.
    for (const id of this.#table.pending()) this.#fail(id, error);
    for (const waiter of this.#leaseWaiters.splice(0)) waiter.reject(error);
    this.#handle = null;
    orphans.unregister(this);
    this.#notifier?.close();
    this.#notifier = null;
    native.cpipe_pool_free(handle);
    this.#inFlight = 0;
    this.#checkIdle();
  }

  #errstr(handle: Handle): string {
    const len = native.cpipe_pool_errstr(handle, this.#errbuf, this.#errbuf.length);
    return fromUtf8.decode(this.#errbuf.subarray(0, Math.min(len, this.#errbuf.length)));
  }
}
