/**
 * Records to callers: the pool's calls awaiting replies, by id, and the one
 * place that decides who gets what the core reports. A reply settles its
 * call (through the call's transform), a failure rejects it, a pipeline's
 * replies are gathered before its promise settles; pushes and connection
 * events go to listeners. Before an error reply settles its call, an
 * `inspect` hook (a cluster router's) may take it and re-issue the command
 * instead.
 */
import { Record, Status } from "../ffi/abi.ts";
import { applyTransforms, type Transform } from "./replies.ts";
import { mayHoldBulk, type ReplyDecoder } from "./decoder.ts";
import { KeptReplies } from "./kept_replies.ts";
import { ConnectionError, type CpipeError, ProtocolError, ReplyError } from "./errors.ts";
import type { ConnectionEvent, RecordReader } from "./records.ts";
import { errorFromStatus } from "./status.ts";
import type { Reply } from "./types.ts";

/** The replies of a pipeline, gathered before its promise settles. */
class Group {
  readonly replies: Reply[];
  readonly transforms: (Transform<unknown> | null)[];
  remaining: number;
  /** The first failure of a connection (not an error reply): rejects the whole pipeline. */
  failure: Error | null = null;
  /** Settles the pipeline's promise (a failure through `rejecting`, as for single calls). */
  readonly resolve: (replies: Reply[] | PromiseLike<never>) => void;
  /** For `keep`: where the replies go, encoded or decoded (then `replies` and `transforms` are unused). */
  readonly kept: KeptReplies | null;

  constructor(
    transforms: (Transform<unknown> | null)[],
    resolve: (replies: Reply[] | PromiseLike<never>) => void,
    kept: KeptReplies | null = null,
  ) {
    this.transforms = transforms;
    this.remaining = kept === null ? transforms.length : kept.count;
    this.replies = kept === null ? new Array(transforms.length) : [];
    this.resolve = resolve;
    this.kept = kept;
  }
}

/** `#asBuffer`'s mark of a `keep` group's call: its reply is kept encoded (bulk strings' form decided later). */
const KEEP = 2;
const NO_TRANSFORMS: (Transform<unknown> | null)[] = [];

/**
 * One executor for every call's promise: it hands over the promise's resolve
 * function without a closure made per call. Only `resolve` is kept, so that
 * a pending call holds one function (100,000 pending calls are a lot for a
 * young generation to copy); a call fails by being resolved with a thenable
 * that rejects it (see `rejecting`).
 */
const captured = { resolve: undefined as unknown as (value: unknown) => void };
function capture(resolve: (value: never) => void): void {
  captured.resolve = resolve as (value: unknown) => void;
}

/**
 * What a call's promise is resolved with to reject it: a thenable, whose
 * `then` the promise calls with its own reject function. Not
 * `Promise.reject(error)`: that makes a second promise, rejected before any
 * handler is attached, and Deno tracks such promises at a cost that grows
 * with their number (100,000 failures froze it for 20 s and more).
 */
function rejecting(error: unknown): PromiseLike<never> {
  return { then: (_resolve, reject) => reject?.(error) as never };
}

const INITIAL = 1024;

/** Takes an error reply before its call settles; true when it did (and re-issued the command). */
export type Inspector = (id: number, reply: ReplyError) => boolean;

/**
 * A router's look at a call that failed without reaching the server (`ConnectionError.unsent`), on `connection`
 * (-1: not known): true when it took the call back, to send it again itself. `command`: the call's command, packed,
 * when the core handed it back (`Call.RESEND`); null otherwise.
 */
export type TakeBack = (id: number, error: ConnectionError, connection: number, command: Uint8Array | null) => boolean;

export class Dispatcher {
  /** Settles a single call (a failure through `rejecting`); undefined for a pipeline member or a free id. */
  #resolve: (((value: unknown) => void) | undefined)[] = [];
  #transform: (Transform<unknown> | null)[] = [];
  /** 1 when bulk strings are wanted as bytes; KEEP for a reply kept encoded. */
  #asBuffer: Uint8Array = new Uint8Array(INITIAL);
  /** For pipeline members: the group and the index in it. */
  #group: (Group | undefined)[] = [];
  #index: Int32Array = new Int32Array(INITIAL);
  /** For single calls: how many times a router took it back to send it again (`takeBacks`). */
  #takenBack: Uint8Array = new Uint8Array(INITIAL);
  /** Replies of a call that owes several, gathered until the last. */
  #partial = new Map<number, Reply[]>();
  #free: number[] = [];
  #size = 0;

  /**
   * While set, rejections wait for a microtask: a drain inside a caller's
   * own tick (a long tick's early flush) would otherwise reject promises
   * before the caller could attach a handler, and Deno's tracking of
   * promises rejected without one costs time that grows with their number
   * (100,000 such took 100 s).
   */
  deferRejections = false;
  #deferred: [(value: never) => void, unknown][] = [];

  /** Fails a call through its resolve function (see `rejecting`), now or in a microtask. */
  #rejectSoon(resolve: (value: never) => void, error: unknown): void {
    if (!this.deferRejections) return resolve(rejecting(error) as never);
    if (this.#deferred.length === 0) queueMicrotask(this.#rejectDeferred);
    this.#deferred.push([resolve, error]);
  }

  readonly #rejectDeferred = (): void => {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const [resolve, error] of deferred) resolve(rejecting(error) as never);
  };

  /** A router's look at each error reply before its call settles (the others go straight through). */
  inspect: Inspector | null = null;
  /**
   * Per call id: what a router keeps to send the call again (`inspect`, `takeBack`), dropped when the call is done,
   * so that a router need not look at every reply to let go of what a finished call held.
   */
  readonly notes: unknown[] = [];
  /** A router's look at each call that fails unsent, before it is failed. */
  takeBack: TakeBack | null = null;
  /** Told of pushes (RESP3 out-of-band frames) that `onPushRecord` did not take. */
  onPush: ((push: Reply, connection: number) => void) | null = null;
  /** Sees each push record first, still encoded (bytes[start…]); true when it took it (a Pub/Sub message). */
  onPushRecord: ((bytes: Uint8Array, start: number, connection: number) => boolean) | null = null;
  /** Told of connection events. */
  onEvent: ((event: ConnectionEvent) => void) | null = null;

  /**
   * Connections removed as lost (`removedAsLost`) whose removal's DOWN event is still to come, and those whose
   * removal fails their calls now: until the connection's next event, a call failed there as closed was lost.
   */
  readonly #removedAsLost = new Set<number>();
  readonly #failingAsLost = new Set<number>();

  /**
   * The core removed `connection` while the pool stays open (a node gone from the slot map). It fails the calls
   * the connection owed as closed, after a DOWN event that says closed (a removal, not a loss, to the event's
   * listeners); to their callers they were lost with it: `ConnectionError`, `unsent` for those that never left.
   */
  removedAsLost(connection: number): void {
    this.#removedAsLost.add(connection);
  }

  /** Exclusive connections are those in [firstExclusive, endExclusive): calls finished there are counted apart. */
  firstExclusive = Infinity;
  endExclusive = Infinity;
  /** Calls finished on exclusive connections by `deliver`, ever. */
  finishedExclusive = 0;

  #onExclusive(connection: number): boolean {
    return connection >= this.firstExclusive && connection < this.endExclusive;
  }

  #alloc(): number {
    const id = this.#free.pop();
    if (id !== undefined) return id;
    const fresh = this.#size++;
    if (fresh === this.#asBuffer.length) {
      const bytes = new Uint8Array(fresh * 2), index = new Int32Array(fresh * 2), takenBack = new Uint8Array(fresh * 2);
      bytes.set(this.#asBuffer);
      index.set(this.#index);
      takenBack.set(this.#takenBack);
      this.#asBuffer = bytes;
      this.#index = index;
      this.#takenBack = takenBack;
    }
    this.#resolve.push(undefined);
    this.#transform.push(null);
    this.#group.push(undefined);
    this.notes.push(undefined);
    return fresh;
  }

  #release(id: number): void {
    this.#resolve[id] = undefined;
    this.#transform[id] = null;
    this.#group[id] = undefined;
    this.notes[id] = undefined;
    this.#free.push(id);
  }

  /** A new call: its id goes to `ids[at]`, its promise is returned. */
  call<T>(transform: Transform<T> | null, asBuffer: boolean, ids: number[], at: number): Promise<T> {
    const id = this.#alloc();
    this.#transform[id] = transform as Transform<unknown> | null;
    this.#asBuffer[id] = asBuffer ? 1 : 0;
    this.#takenBack[id] = 0;
    const promise = new Promise<T>(capture);
    this.#resolve[id] = captured.resolve;
    ids[at] = id;
    return promise;
  }

  /** Counts one more taking back of single call `id` (see `TakeBack`); returns how many there were, this one included. */
  takeBacks(id: number): number {
    const count = this.#takenBack[id]! + 1;
    this.#takenBack[id] = Math.min(count, 255);
    return count;
  }

  /** Ids for a pipeline's calls, gathered into one promise. */
  group(transforms: (Transform<unknown> | null)[], asBuffer: readonly boolean[], ids: number[]): Promise<Reply[]> {
    let group!: Group;
    const promise = new Promise<Reply[]>((resolve) => {
      group = new Group(transforms, resolve);
    });
    for (let i = 0; i < transforms.length; i++) {
      const id = this.#alloc();
      this.#group[id] = group;
      this.#index[id] = i;
      this.#asBuffer[id] = asBuffer[i] ? 1 : 0;
      ids.push(id);
    }
    return promise;
  }

  /**
   * Ids for `count` commands of a pipeline sent before its `execute()` says how to shape their replies: those that
   * may hold a bulk string are kept encoded, the others decoded as they come; gathered into one promise.
   */
  keep(count: number, ids: number[]): Promise<KeptReplies> {
    let group!: Group;
    const kept = new KeptReplies(count);
    const promise = new Promise<Reply[]>((resolve) => {
      group = new Group(NO_TRANSFORMS, resolve, kept);
    });
    for (let i = 0; i < count; i++) {
      const id = this.#alloc();
      this.#group[id] = group;
      this.#index[id] = i;
      this.#asBuffer[id] = KEEP;
      ids.push(id);
    }
    return promise as unknown as Promise<KeptReplies>;
  }

  /**
   * Hands out every record of a drained buffer; returns how many calls they
   * finished (their last reply, or a failure).
   */
  deliver(records: RecordReader, decoder: ReplyDecoder): number {
    let finished = 0, refusal: ReplyError | undefined;
    let failure: CpipeError | null = null, failureStatus = 0, failureMessage = "", failureUnsent = false;
    while (records.next()) {
      switch (records.kind) {
        case Record.REPLY: {
          const id = records.id;
          // Kept encoded where bytes or text is still to be chosen (other replies are decoded as they come): not
          // an error reply, which is all an inspector looks for.
          if (this.#asBuffer[id] === KEEP && !records.partial && mayHoldBulk(records.bytes[records.start]!)) {
            finished++;
            if (this.#onExclusive(records.connection)) this.finishedExclusive++;
            const group = this.#group[id], index = this.#index[id]!;
            this.#release(id);
            if (group === undefined) break;
            group.kept!.keep(index, records.bytes, records.start, records.end);
            if (--group.remaining === 0) this.#finish(group);
            break;
          }
          decoder.pos = records.start;
          decoder.asBuffer = this.#asBuffer[id] === 1;
          let reply: Reply;
          try {
            reply = decoder.next();
          } catch (e) {
            // The core checked the reply's framing: only this one is lost, in its own place.
            reply = new ProtocolError(`cpipe: cannot decode a reply: ${e}`);
          }
          if (records.partial) {
            const gathered = this.#partial.get(id);
            if (gathered === undefined) this.#partial.set(id, [reply]);
            else gathered.push(reply);
            break;
          }
          const earlier = this.#partial.get(id);
          if (earlier !== undefined) {
            this.#partial.delete(id);
            earlier.push(reply);
            reply = earlier;
          }
          finished++;
          if (this.#onExclusive(records.connection)) this.finishedExclusive++;
          if (reply instanceof ReplyError && this.inspect?.(id, reply)) break;
          this.settle(id, reply);
          break;
        }
        case Record.FAILURE: {
          finished++;
          if (this.#onExclusive(records.connection)) this.finishedExclusive++;
          this.#partial.delete(records.id);
          const connection = records.connection;
          const lost = this.#failingAsLost.size > 0 && records.status === Status.ERR_CLOSED &&
            this.#failingAsLost.has(connection);
          // A broken connection fails every call it carried with one reason:
          // one error object serves them all.
          const status = lost ? Status.ERR_CONN : records.status, message = records.message, unsent = records.unsent;
          if (failure === null || status !== failureStatus || message !== failureMessage || unsent !== failureUnsent) {
            failure = errorFromStatus(status, message, refusal, unsent);
            failureStatus = status;
            failureMessage = message;
            failureUnsent = unsent;
          }
          // A removed connection's index may be another connection's by now: not one a router should mark down.
          const command = unsent && this.takeBack !== null ? records.command : null;
          this.fail(records.id, failure, lost ? -1 : connection, command);
          break;
        }
        case Record.PUSH:
          if (this.onPushRecord?.(records.bytes, records.start, records.connection)) break;
          if (this.onPush !== null) {
            decoder.pos = records.start;
            decoder.asBuffer = false;
            try {
              this.onPush(decoder.next(), records.connection);
            } catch {
              // A listener's failure is not the pool's.
            }
          }
          break;
        case Record.EVENT: {
          const event = records.event();
          refusal = event.serverError;
          if (this.#removedAsLost.size > 0 || this.#failingAsLost.size > 0) this.#removal(event);
          this.onEvent?.(event);
          break;
        }
      }
    }
    return finished;
  }

  /** Follows the removals as lost through their connections' events (see `removedAsLost`). */
  #removal(event: ConnectionEvent): void {
    const connection = event.connection;
    this.#failingAsLost.delete(connection);
    if (event.type === "down" && event.status === Status.ERR_CLOSED && this.#removedAsLost.delete(connection)) {
      this.#failingAsLost.add(connection);
    }
  }

  /** Settles call `id` with its reply (through its transform; an error reply rejects). */
  settle(id: number, reply: Reply): void {
    const resolve = this.#resolve[id];
    if (resolve !== undefined) {
      const transform = this.#transform[id] ?? null;
      this.#release(id);
      if (reply instanceof Error) this.#rejectSoon(resolve, reply);
      else if (transform === null) resolve(reply);
      else {
        try {
          resolve(transform(reply));
        } catch (e) {
          this.#rejectSoon(resolve, e);
        }
      }
      return;
    }
    const group = this.#group[id];
    const index = this.#index[id]!;
    this.#release(id);
    if (group === undefined) return;
    if (group.kept !== null) group.kept.set(index, reply);
    else group.replies[index] = reply;
    if (--group.remaining === 0) this.#finish(group);
  }

  /**
   * Fails call `id` (a pipeline member fails its whole pipeline). With `connection` (-1: not known) it failed there
   * on its way out, and an unsent failure is shown to `takeBack` first, with its `command` when the core handed it
   * back; without, a router is giving up on it.
   */
  fail(id: number, error: Error, connection?: number, command: Uint8Array | null = null): void {
    if (
      connection !== undefined && this.takeBack !== null && error instanceof ConnectionError && error.unsent &&
      this.takeBack(id, error, connection, command)
    ) {
      return;
    }
    const resolve = this.#resolve[id];
    if (resolve !== undefined) {
      this.#release(id);
      this.#rejectSoon(resolve, error);
      return;
    }
    const group = this.#group[id];
    // Settled already (a router giving up on a call the pool's shutdown failed): released once only.
    if (group === undefined) return;
    this.#release(id);
    group.failure ??= error;
    if (--group.remaining === 0) this.#finish(group);
  }

  #finish(group: Group): void {
    if (group.failure !== null) return this.#rejectSoon(group.resolve, group.failure);
    if (group.kept !== null) return group.resolve(group.kept as unknown as Reply[]);
    let replies: Reply[];
    try {
      replies = applyTransforms(group.replies, group.transforms);
    } catch (e) {
      return this.#rejectSoon(group.resolve, e);
    }
    group.resolve(replies);
  }

  /** Rejects every call still pending: no promise hangs. */
  failAll(error: Error): void {
    this.#partial.clear();
    for (let id = 0; id < this.#size; id++) {
      if (this.#resolve[id] !== undefined || this.#group[id] !== undefined) this.fail(id, error);
    }
  }
}
