/**
 * Commands to the core: the commands a tick issues are encoded into
 * segments, one per route, and each segment is submitted in one native call
 * (a microtask flush), within the pool's in-flight window. A pipeline is a
 * segment of its own, kept whole on one connection; the other commands of a
 * tick are spread over the shared connections.
 */
import { Call, Status } from "../ffi/abi.ts";
import { native } from "../ffi/load.ts";
import type { Handle } from "../ffi/symbols.ts";
import { CommandEncoder, SEND_EARLY_BYTES } from "./encoder.ts";
import { errorFromStatus } from "./status.ts";

/** A segment's commands go to the core in submits of at most about this many bytes. */
const SUBMIT_BYTES = 1024 * 1024;
/**
 * A tick's commands are spread over the connections in parts of at least
 * this many: replies then come back from several connections at different
 * moments, and callers that wait on each other do not march in lockstep.
 */
const MIN_PART = 5;
/** A tick that issues this many commands on a route submits them without waiting for its end. */
export const EARLY_FLUSH = 4096;
/** Pipelines of one turn share a segment up to this many bytes of commands. */
const MERGE_BYTES = 16 * 1024;
/** A segment keeps the storage of its lists up to this many entries when emptied (see `Segment.ids`). */
const RETAINED_ENTRIES = 1 << 20;
/** A block none of whose commands blocks (never written to). */
export const NOT_BLOCKING: readonly number[] = Object.freeze([]);

/**
 * The shared connection the blocks of one pipeline go to: a pipeline sent in several blocks (the first before
 * its `execute()`) keeps its order by sending every block where the first went.
 */
export class Pin {
  /** The connection of the first block, once submitted; -1 before. */
  connection = -1;
  /** Why a block could not be submitted: the blocks after it fail with it rather than run out of order. */
  failure: Error | null = null;
}

/** Commands issued together for one connection (or one route), in order. */
export class Segment {
  encoder = new CommandEncoder();
  /** How many commands it holds: `ids` and `starts` hold one entry each per command, from index 0. */
  count = 0;
  /**
   * Call ids, one per command. Emptied by `count = 0`, never by `length = 0`: V8 then drops the array's storage
   * and copies it over as it grows again, 28 bytes of garbage per entry (measured, Deno 2.9), which brought the
   * young generation's collections forward for every command a tick issued.
   */
  ids: number[] = [];
  /** Where each command starts in the encoder; emptied as `ids` is. */
  starts: number[] = [];
  /** -1 for any shared connection, else a connection's index. */
  route = -1;
  /** A pipeline: every part goes to the connection of the first. */
  whole = false;
  /** The connection its first part went to, or -1. */
  connection = -1;
  /** Commands submitted so far. */
  sent = 0;
  /** When it was queued (ms, `Date.now()`): the offline queue's clock. */
  queuedAt = 0;
  /** A block of a pipeline sent in several: where its blocks go. */
  pin: Pin | null = null;
  /**
   * Which commands (indices into `ids`, ascending) block by design, exempt from the command timeout: only ever
   * on an exclusive connection, so a shared segment's stays empty and costs nothing.
   */
  blocking: number[] = [];
  /**
   * Its first command needs the session of the commands before it on its connection (an acquired connection's
   * WATCH, MULTI, SELECT…): the core refuses it, unsent, once that connection dropped.
   */
  sameSession = false;

  reset(): void {
    this.encoder.reset();
    this.count = 0;
    if (this.ids.length > RETAINED_ENTRIES) {
      this.ids = [];
      this.starts = [];
    }
    this.route = -1;
    this.whole = false;
    this.connection = -1;
    this.sent = 0;
    this.queuedAt = 0;
    this.pin = null;
    this.blocking.length = 0;
    this.sameSession = false;
  }
}

/** What the batcher needs of its pool. */
export interface BatchOwner {
  /** Shared connections (parts of a tick are sized by it). */
  readonly size: number;
  readonly maxInFlight: number;
  /** A submit failed: these calls will get no record. `connection`: the one refused, when it is known (else -1). */
  fail(id: number, error: Error, connection: number): void;
  /** Whether a route is an exclusive connection: its calls are counted apart (`submittedExclusive`), as some may block. */
  exclusive(route: number): boolean;
  /**
   * No shared connection is up: true when the commands may wait for one
   * (the offline queue), false when they fail now.
   */
  offline(): boolean;
  /** `host:port` or the socket's path, for the errors of commands no connection took. */
  readonly address: string;
}

export class Batcher {
  readonly #owner: BatchOwner;
  #handle: Handle | null = null;
  /** The open segment of each route this tick (index 0: shared; route + 1 otherwise). */
  #open: (Segment | undefined)[] = [];
  /** Segments closed and waiting to be submitted, oldest first. */
  #queue: Segment[] = [];
  #queueHead = 0;
  #spare: Segment[] = [];
  /** Arenas of submitted blocks, emptied, for the next blocks of long pipelines (see `blockEncoder`). */
  #spareEncoders: CommandEncoder[] = [];
  #flushScheduled = false;
  #calls: Uint8Array = new Uint8Array(4096);
  #callsView: DataView = new DataView(this.#calls.buffer);
  /** Commands submitted whose last record was not drained yet. */
  inFlight = 0;
  /** Commands encoded and not yet submitted. */
  queued = 0;
  /** Commands submitted to exclusive connections, ever, blocking or not (the dispatcher counts them by connection). */
  submittedExclusive = 0;
  /** Called when the first command of a tick is queued. */
  onSchedule: (() => void) | null = null;
  /**
   * The single commands spread over the shared connections are flagged `Call.RESEND`: should one never leave its
   * connection, the core hands its command back with its failure, to be sent again (`PoolCore.sendUnsentAgain`).
   */
  resendUnsent = false;

  constructor(owner: BatchOwner) {
    this.#owner = owner;
  }

  /** The native pool submits go to; null once closed. */
  attach(handle: Handle | null): void {
    this.#handle = handle;
  }

  /** The open segment of a route, made when needed. */
  segment(route: number): Segment {
    const key = route + 1;
    let segment = this.#open[key];
    if (segment === undefined) {
      segment = this.#spare.pop() ?? new Segment();
      segment.route = route;
      this.#open[key] = segment;
    }
    return segment;
  }

  /**
   * Queues a pipeline, already encoded, as one contiguous block on a route; with a `pin`, on the shared
   * connection the pipeline's earlier blocks went to. `blocking`: its commands that block by design (indices).
   */
  block(
    route: number,
    encoder: CommandEncoder,
    starts: number[],
    ids: number[],
    pin: Pin | null = null,
    blocking: readonly number[] = NOT_BLOCKING,
    sameSession = false,
  ): void {
    // Small pipelines of one turn (a server's requests, each with its own) share a segment: one submit, one
    // write. Each stays contiguous and in order on the one connection the segment goes to.
    const tail = this.#mergeable;
    if (tail !== null && route < 0 && pin === null && tail.encoder.length + encoder.length <= MERGE_BYTES) {
      const base = tail.encoder.length, firstId = tail.count;
      tail.encoder.append(encoder);
      for (let k = 0; k < ids.length; k++) {
        tail.starts[firstId + k] = base + starts[k]!;
        tail.ids[firstId + k] = ids[k]!;
      }
      tail.count += ids.length;
      for (let k = 0; k < blocking.length; k++) tail.blocking.push(firstId + blocking[k]!);
      this.queued += ids.length;
      return;
    }
    // What this route queued before comes first, then the block, alone in its segment.
    this.#close(route);
    const segment = this.#spare.pop() ?? new Segment();
    const spare = segment.encoder; // empty: its segment was submitted (or is new)
    if (spare.bytes.length >= SEND_EARLY_BYTES && this.#spareEncoders.length < 4) this.#spareEncoders.push(spare);
    segment.encoder = encoder; // taken over: the pipeline starts a new one
    segment.starts = starts;
    segment.ids = ids;
    segment.count = ids.length;
    segment.route = route;
    segment.whole = true;
    segment.pin = route < 0 ? pin : null;
    for (let k = 0; k < blocking.length; k++) segment.blocking.push(blocking[k]!);
    segment.sameSession = sameSession;
    segment.queuedAt = Date.now();
    this.#queue.push(segment);
    this.queued += ids.length;
    this.#mergeable = route < 0 && pin === null && encoder.length < MERGE_BYTES ? segment : null;
  }

  /**
   * The last segment queued, when it is a small pipeline on the shared connections that later pipelines of this
   * turn may join (until something else is queued after it, or the turn's flush).
   */
  #mergeable: Segment | null = null;

  /**
   * An empty arena for the next block of a long pipeline: one a submitted block left, else a new one with room
   * for a block and the command that ends it (allocating and growing one per block cost more than filling it).
   */
  blockEncoder(): CommandEncoder {
    return this.#spareEncoders.pop() ?? new CommandEncoder(2 * SEND_EARLY_BYTES);
  }

  /** Moves a route's open segment to the queue. */
  #close(route: number): void {
    const key = route + 1, segment = this.#open[key];
    if (segment === undefined) return;
    this.#open[key] = undefined;
    if (segment.count === 0) return void this.#spare.push(segment);
    segment.queuedAt = Date.now();
    this.#queue.push(segment);
    this.#mergeable = null;
  }

  /**
   * Submits at the end of this tick, or, while replies are owed, at the end
   * of this turn of the event loop: a server answers many requests in one
   * turn, each in a tick of its own, and their commands then go out in one
   * write (one system call and one wake-up of the I/O thread for them all)
   * instead of one each; the connection is busy with the earlier ones
   * meanwhile, so they wait for nothing. An idle pool sends at once.
   */
  schedule(): void {
    this.onSchedule?.();
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    if (this.inFlight > 0) setImmediate(this.#flush);
    else queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  /** Submits every open segment now, as far as the window allows. */
  flush(): void {
    this.#mergeable = null;
    const open = this.#open;
    for (let key = 0; key < open.length; key++) if (open[key] !== undefined) this.#close(key - 1);
    this.submitQueue();
  }

  /** Whether segments wait for room in the window. */
  get waiting(): boolean {
    return this.#queueHead < this.#queue.length;
  }

  submitQueue(): void {
    this.#mergeable = null; // what goes out now takes nothing more
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const segment = queue[this.#queueHead]!;
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
    if (segment === this.#mergeable) this.#mergeable = null;
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
    const handle = this.#handle;
    if (handle === null) return false;
    const n = segment.count, starts = segment.starts, ids = segment.ids;
    const maxInFlight = this.#owner.maxInFlight;
    const spread = !segment.whole && segment.route < 0;
    const part = spread ? Math.max(MIN_PART, Math.ceil(n / this.#owner.size)) : n;
    const exclusive = segment.route >= 0 && this.#owner.exclusive(segment.route);
    const pin = segment.pin;
    if (pin !== null && segment.sent === 0) {
      if (pin.failure !== null) {
        this.queued -= n;
        segment.sent = n;
        for (let k = 0; k < n; k++) this.#owner.fail(ids[k]!, pin.failure, pin.connection);
        return true;
      }
      if (pin.connection >= 0) segment.connection = pin.connection;
    }
    while (segment.sent < n) {
      const room = maxInFlight - this.inFlight;
      if (room <= 0) return false;
      const from = segment.sent, start = starts[from]!;
      let to = from + (room < part ? room : part);
      if (to > n) to = n;
      // Keep each submit to about SUBMIT_BYTES (at least one command).
      if ((to < n ? starts[to]! : segment.encoder.length) - start > SUBMIT_BYTES) {
        let lo = from + 1, hi = to;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (starts[mid]! - start <= SUBMIT_BYTES) lo = mid;
          else hi = mid - 1;
        }
        to = lo;
      }
      const end = to < n ? starts[to]! : segment.encoder.length;
      const count = to - from;
      // A later part of a segment on an exclusive connection needs the session its earlier parts went to: they may
      // have given it state (a pipeline's WATCH or MULTI), which a redial between the parts would lose.
      const sameSession = segment.sameSession || (exclusive && from > 0);
      const calls = this.#callsFor(ids, from, count, segment.blocking, sameSession, spread && this.resendUnsent);
      const route = segment.route >= 0 ? segment.route : spread ? -1 : segment.connection;
      const bytes = start === 0 ? segment.encoder.bytes : segment.encoder.bytes.subarray(start, end);
      const rc = native.cpipe_pool_submit(handle, bytes, end - start, calls, count * Call.SIZE, route);
      if (rc >= 0) {
        if (segment.connection < 0) segment.connection = rc;
        if (pin !== null) pin.connection = rc;
        if (exclusive) this.submittedExclusive += count;
        this.inFlight += count;
        this.queued -= count;
        segment.sent = to;
        continue;
      }
      if (rc === Status.ERR_BUSY) return false;
      // Every shared connection is down, waiting to reconnect: wait for one (in order, the rest behind it).
      if (rc === Status.ERR_CONN && route === -1 && this.#owner.offline()) return false;
      // Refused: nothing was sent. Which server was out of reach, as a dropped connection's error says.
      const why = rc === Status.ERR_CONN && route === -1
        ? `${this.#owner.address}: ${this.errstr(handle)}`
        : this.errstr(handle);
      const error = errorFromStatus(rc, why, undefined, true);
      if (pin !== null) pin.failure ??= error;
      this.queued -= count;
      segment.sent = to;
      for (let k = from; k < to; k++) this.#owner.fail(ids[k]!, error, route);
    }
    return true;
  }

  /**
   * The calls of ids[from, from + count): id, one reply, RESEND on each with `resend`, BLOCKING for the commands
   * `blocking` names, and SAME_SESSION on the first with `sameSession` (each submit of the segment needs the session
   * of the one before).
   */
  #callsFor(
    ids: number[],
    from: number,
    count: number,
    blocking: readonly number[],
    sameSession: boolean,
    resend: boolean,
  ): Uint8Array {
    if (this.#calls.length < count * Call.SIZE) {
      this.#calls = new Uint8Array(Math.max(count * Call.SIZE, this.#calls.length * 2));
      this.#callsView = new DataView(this.#calls.buffer);
    }
    const view = this.#callsView;
    // u16 replies (1), u16 flags, in one store.
    const repliesAndFlags = resend ? 1 | (Call.RESEND << 16) : 1;
    for (let k = 0; k < count; k++) {
      const at = k * Call.SIZE;
      view.setUint32(at, ids[from + k]!, true);
      view.setUint32(at + 4, repliesAndFlags, true);
    }
    for (let b = 0; b < blocking.length; b++) {
      const k = blocking[b]! - from;
      if (k >= 0 && k < count) view.setUint16(k * Call.SIZE + 6, Call.BLOCKING, true);
    }
    if (sameSession) view.setUint16(6, view.getUint16(6, true) | Call.SAME_SESSION, true);
    return this.#calls;
  }

  #errbuf = new Uint8Array(512);

  /** The core's message for the pool's last failed call. */
  errstr(handle: Handle): string {
    const len = native.cpipe_pool_errstr(handle, this.#errbuf, this.#errbuf.length);
    return new TextDecoder().decode(this.#errbuf.subarray(0, Math.min(len, this.#errbuf.length)));
  }

  /** When the oldest segment still waiting was queued (ms), or 0 when none waits. */
  get oldestQueuedAt(): number {
    return this.#queueHead < this.#queue.length ? this.#queue[this.#queueHead]!.queuedAt : 0;
  }

  /**
   * Fails the calls of segments queued at or before `before` (ms) that are
   * still waiting, oldest first: the offline queue's limit.
   */
  expire(before: number, error: Error): void {
    const queue = this.#queue;
    while (this.#queueHead < queue.length && queue[this.#queueHead]!.queuedAt <= before) {
      const segment = queue[this.#queueHead]!;
      for (let k = segment.sent; k < segment.count; k++) this.#owner.fail(segment.ids[k]!, error, -1);
      this.queued -= segment.count - segment.sent;
      queue[this.#queueHead++] = undefined as unknown as Segment;
      this.#recycle(segment);
    }
    if (this.#queueHead === queue.length) {
      queue.length = 0;
      this.#queueHead = 0;
    }
  }

  /** Every call encoded and not submitted, now forgotten (the pool is closing). */
  drop(error: Error): void {
    this.#mergeable = null;
    const queue = this.#queue;
    for (let i = this.#queueHead; i < queue.length; i++) {
      const segment = queue[i]!;
      for (let k = segment.sent; k < segment.count; k++) this.#owner.fail(segment.ids[k]!, error, -1);
    }
    queue.length = 0;
    this.#queueHead = 0;
    for (const segment of this.#open) {
      if (segment === undefined) continue;
      for (let k = 0; k < segment.count; k++) this.#owner.fail(segment.ids[k]!, error, -1);
    }
    this.#open = [];
    this.queued = 0;
  }
}
