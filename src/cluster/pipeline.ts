/**
 * A pipeline on a cluster pool: its commands are split by the node serving
 * their slot, each node's share goes to that node's connection as one
 * block, the blocks are sent together, and the replies are put back in the
 * order the commands were queued. Each command is routed and redirected as
 * a single command would be; a MULTI … EXEC goes whole to one node, so its
 * keys must share a slot.
 */
import {
  type Added,
  type ClusterQueue,
  Commands,
  type ExecArgs,
  type Executed,
  type Queue,
  type Queued,
  type RawExecuted,
  type RawReplies,
  type Replies,
} from "../commands.ts";
import { CommandEncoder, SEND_EARLY_BYTES } from "../encoder.ts";
import { CpipeError } from "../errors.ts";
import { checkCommand } from "../guards.ts";
import type { KeptReplies } from "../kept_replies.ts";
import { type KeyPrefix, withKeyPrefix } from "../key_positions.ts";
import type { PoolCore } from "../pool_core.ts";
import { BLOCKING, classify, TransactionTracker } from "../pool_routing.ts";
import { applyTransforms, ReplyPlan, type Transform } from "../replies.ts";
import { execReply, notInTransaction } from "../transaction.ts";
import type { Arg, Reply } from "../types.ts";
import { ANY_SLOT, commandSlot, isReadOnly } from "./keys.ts";
import { type Redirect, transactionRedirect } from "./topology.ts";

/** The least a part sends early (see `PipelineSplit.#earlyBytes`). */
const MIN_EARLY_BYTES = 8 * 1024;

/** What a pending call needs to be sent again: its command, arguments (with the key prefix) and slot. */
export interface Issued {
  readonly command: string;
  readonly args: readonly Arg[];
  readonly slot: number;
}

/**
 * A pool pipeline's part as it was sent, kept until its replies are in: what one of its commands needs to be sent
 * again is its packed bytes, `bytes[starts[k], starts[k + 1] or the end)`, and its slot. Nothing per command: the
 * arguments of 10,000 commands kept until their replies came made the garbage collector's work, 40 % of queueing.
 */
export interface SentPart {
  readonly bytes: Uint8Array;
  readonly starts: readonly number[];
  readonly slots: readonly number[];
}

/** Command `k` of a sent part: its packed bytes and its slot. */
export function sentCommand(part: SentPart, k: number): { packed: Uint8Array; slot: number } {
  const end = part.starts[k + 1] ?? part.bytes.length;
  return { packed: part.bytes.subarray(part.starts[k]!, end), slot: part.slots[k]! };
}

/** What a pipeline needs of its cluster pool. */
export interface PipelineHost {
  core(): PoolCore;
  /** Whether reads may go to replicas (then read-only commands are routed apart). */
  readonly replicaReads: boolean;
  /** The `keyPrefix` option. */
  readonly keyPrefix: KeyPrefix | null;
  /** The connection for a slot (`read`: the command only reads). */
  route(slot: number, read: boolean): number;
  /**
   * The connection a part routed to `route` goes on: that one, unless it is down; then a promise of the one the
   * slot of its keyed commands (`slots`) has once it is not down.
   */
  connection(route: number, slots: readonly number[]): number | Promise<number>;
  /** Records what the calls `ids`, a part's commands in order, may have to send again (null: nothing, a transaction). */
  sent(ids: readonly number[], part: SentPart | null): void;
  /**
   * Where a transaction on `slot` a redirection refused goes next (a connection, and whether ASKING goes first),
   * after a pause for TRYAGAIN or CLUSTERDOWN (`attempt`: the redirections it followed before); null once it has
   * followed `maxRedirects`.
   */
  redirected(redirect: Redirect, slot: number, attempt: number): Promise<{ route: number; asking: boolean } | null>;
}

/** The commands of a pipeline bound for one node, encoded as they are queued. */
export class Part<N> {
  encoder: CommandEncoder = new CommandEncoder();
  starts: number[] = [];
  /** Each command's index in the pipeline. */
  indexes: number[] = [];
  /** Each command's slot. */
  slots: number[] = [];
  /** Each command and its arguments, where the pipeline keeps them (`PipelineSplit`'s `keepIssued`); else empty. */
  issued: Issued[] = [];

  constructor(readonly route: N) {}

  /** Starts over empty, with new arrays and `encoder`: the old ones were handed to whoever sent them. */
  clear(encoder: CommandEncoder): void {
    this.encoder = encoder;
    this.starts = [];
    this.indexes = [];
    this.slots = [];
    this.issued = [];
  }

  /** Its commands as sent (see `SentPart`); before `encoder` and `starts` are handed over. */
  sent(): SentPart {
    const encoder = this.encoder;
    return { bytes: encoder.bytes.slice(0, encoder.length), starts: this.starts.slice(), slots: this.slots };
  }

  /** The transforms and bytes flags of this part's commands, out of the whole pipeline's. */
  plan(
    transforms: readonly (Transform<unknown> | null)[],
    asBuffer: readonly boolean[],
  ): { transforms: (Transform<unknown> | null)[]; asBuffer: boolean[] } {
    const indexes = this.indexes, n = indexes.length;
    const some = { transforms: new Array<Transform<unknown> | null>(n), asBuffer: new Array<boolean>(n) };
    for (let k = 0; k < n; k++) {
      some.transforms[k] = transforms[indexes[k]!] ?? null;
      some.asBuffer[k] = asBuffer[indexes[k]!]!;
    }
    return some;
  }
}

/** A cluster pipeline's commands taken for sending. */
export interface Batch<N> {
  /** One per node; a single one holding everything for a transaction. */
  readonly parts: Part<N>[];
  readonly transforms: (Transform<unknown> | null)[];
  readonly asBuffer: boolean[];
  /** It holds MULTI: not re-sent command by command on a redirection. */
  readonly transaction: boolean;
  /** It is one transaction and nothing else (`ReplyPlan.soleTransaction`): sent again whole after a redirection. */
  readonly alone: boolean;
  /** Commands in all. */
  readonly length: number;
}

/**
 * The queue of a cluster pipeline, split by node as commands are queued: each command routed by its slot (a
 * read to a replica when reads may go there), its node's part encoding it; then taken whole for sending, and the
 * parts' answers put back in queue order. Serves the pool's pipeline (routes: connection indexes) and the
 * synchronous client's (routes: node clients).
 */
export class PipelineSplit<N> {
  readonly #route: (slot: number, read: boolean) => N;
  readonly #replicaReads: boolean;
  readonly #keyPrefix: KeyPrefix | null;
  readonly #keepIssued: boolean;
  /** The commands by node, in the order each node first appears. */
  #parts: Part<N>[] = [];
  readonly #byRoute = new Map<N, Part<N>>();
  /** The part the last command went to: consecutive commands for one node skip the map. */
  #last: Part<N> | null = null;
  readonly #plan = new ReplyPlan();
  readonly #tracker = new TransactionTracker();
  #transaction = false;
  /**
   * Sends a part whose commands passed its share of `SEND_EARLY_BYTES` (`#earlyBytes`) before `take()` (a pipeline
   * holding a transaction never does), and clears it. Null: parts wait for `take()`.
   */
  sendEarly: ((part: Part<N>) => void) | null = null;
  /**
   * What a part holds when it goes early: `SEND_EARLY_BYTES` shared by the parts, so that the nodes start on a
   * pipeline spread over them as soon as one node would on all of it (P10k over 3 masters: 421k -> 482k ops/s
   * under Bun, 490k -> 548k under Deno, A/B of 5 runs each), and not below `MIN_EARLY_BYTES` (each send is a write).
   */
  #earlyBytes = SEND_EARLY_BYTES;

  /**
   * `route`: the node for a slot (`read`: the command only reads); `replicaReads`: reads may go to replicas;
   * `keyPrefix`: put on every key before its slot is found; `keepIssued`: each part keeps its commands' names and
   * arguments (`Part.issued`), for a client that sends a redirected command again by name.
   */
  constructor(
    route: (slot: number, read: boolean) => N,
    replicaReads: boolean,
    keyPrefix: KeyPrefix | null,
    keepIssued: boolean,
  ) {
    this.#route = route;
    this.#replicaReads = replicaReads;
    this.#keyPrefix = keyPrefix;
    this.#keepIssued = keepIssued;
  }

  /** Commands queued. */
  get length(): number {
    return this.#plan.length;
  }

  /** Whether a MULTI queued by name is open (see `ReplyPlan.inTransaction`). */
  get inTransaction(): boolean {
    return this.#plan.inTransaction;
  }

  /** Checks a command queued by name: transactions must close what they open; blocking commands are refused. */
  checkByName(command: string, args: readonly Arg[]): void {
    checkCommand(command, args[0]);
    this.#tracker.check(command, args as Arg[]);
    if (classify(command, args as Arg[]) === BLOCKING) {
      throw new CpipeError(
        `cpipe: ${command.toUpperCase()} would block a node's connection: not in a cluster pipeline`,
      );
    }
    if (this.#tracker.open) this.#transaction = true;
  }

  /** Queues a command on its node's part; throws (recording nothing) on keys in two slots or a bad argument. */
  queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean, byName: boolean): void {
    // The server hashes the prefixed key: its slot is the one to route by.
    const sent = withKeyPrefix(this.#keyPrefix, command, args);
    const slot = commandSlot(command, sent);
    if (typeof slot !== "number") throw slot;
    const route = this.#route(slot, this.#replicaReads && isReadOnly(command, args));
    let part = this.#last;
    if (part === null || part.route !== route) {
      part = this.#byRoute.get(route) ?? null;
      if (part === null) {
        part = new Part(route);
        this.#byRoute.set(route, part);
        this.#parts.push(part);
        this.#earlyBytes = Math.max(MIN_EARLY_BYTES, Math.floor(SEND_EARLY_BYTES / this.#parts.length));
      }
      this.#last = part;
    }
    const encoder = part.encoder, start = encoder.length;
    encoder.add(command, sent); // throws on a bad argument, before anything is recorded
    part.starts.push(start);
    part.indexes.push(this.#plan.length);
    part.slots.push(slot);
    if (this.#keepIssued) part.issued.push({ command, args: sent, slot });
    this.#plan.add(command, transform, asBuffer, byName);
    if (encoder.length >= this.#earlyBytes && this.sendEarly !== null && !this.#transaction) {
      this.sendEarly(part);
    }
  }

  /** Forgets the queued commands. */
  discard(): void {
    this.#parts = [];
    this.#earlyBytes = SEND_EARLY_BYTES;
    this.#byRoute.clear();
    this.#last = null;
    this.#plan.reset();
    this.#tracker.reset();
    this.#transaction = false;
  }

  /**
   * Takes the queued commands for sending (the queue is empty after); null when there are none. Throws, after
   * discarding them, when a transaction is left open or its keys span slots. `allBuffers`: every reply as bytes,
   * none shaped.
   */
  take(allBuffers: boolean): Batch<N> | null {
    const length = this.#plan.length;
    if (length === 0) return null;
    // A part sent early and given nothing since has nothing left to send.
    let parts = this.#parts.filter((part) => part.starts.length > 0);
    const plan = this.#plan, transaction = this.#transaction, alone = plan.soleTransaction;
    try {
      this.#tracker.assertClosed();
      if (transaction && parts.length > 1) parts = [this.#transactionPart(parts)];
    } catch (e) {
      this.discard();
      throw e;
    }
    const transforms = allBuffers ? plan.transforms.map(() => null) : plan.transforms;
    const asBuffer = allBuffers ? plan.asBuffer.map(() => true) : plan.asBuffer;
    this.discard();
    return { parts, transforms, asBuffer, transaction, alone, length };
  }

  /**
   * A pipeline holding MULTI goes whole to one node: its keyed commands must share a slot (those without keys,
   * MULTI and EXEC among them, were routed to any node as they were queued: they are gathered here).
   */
  #transactionPart(parts: Part<N>[]): Part<N> {
    // By index in the pipeline, each command's part and place there; those sent early (before its transaction
    // began) are not among them.
    const partOf: Part<N>[] = [], placeIn: number[] = [];
    for (const part of parts) {
      for (let k = 0; k < part.indexes.length; k++) {
        partOf[part.indexes[k]!] = part;
        placeIn[part.indexes[k]!] = k;
      }
    }
    let slot = ANY_SLOT;
    partOf.forEach((part, index) => { // skips the holes
      const other = part.slots[placeIn[index]!]!;
      if (other === ANY_SLOT || other === slot) return;
      if (slot !== ANY_SLOT) {
        throw new CpipeError(
          `cpipe: a cluster pipeline with MULTI runs on one node, but its keys are in slots ${slot} and ${other}; ` +
            "give them a common {hash tag}",
        );
      }
      slot = other;
    });
    const whole = new Part(this.#route(slot, false));
    partOf.forEach((part, index) => {
      const k = placeIn[index]!, start = part.starts[k]!, end = part.starts[k + 1] ?? part.encoder.length;
      whole.starts.push(whole.encoder.length);
      whole.encoder.addPacked(part.encoder.bytes, start, end);
      whole.indexes.push(index);
      whole.slots.push(part.slots[k]!);
      if (this.#keepIssued) whole.issued.push(part.issued[k]!);
    });
    return whole;
  }
}

/** The parts' answers (in the batch's part order) put back in the order the commands were queued. */
export function inQueueOrder<N>(batch: Batch<N>, answers: readonly (readonly Reply[])[]): Reply[] {
  const replies: Reply[] = new Array(batch.length);
  for (let p = 0; p < answers.length; p++) {
    const indexes = batch.parts[p]!.indexes, answer = answers[p]!;
    for (let k = 0; k < indexes.length; k++) replies[indexes[k]!] = answer[k]!;
  }
  return replies;
}

/**
 * What the pipelines of both cluster clients share: the queue split by node (`PipelineSplit`) and the methods that
 * queue on it or forget it; each adds its own `execute()`.
 */
export abstract class SplitPipeline<S extends Queue, N> extends Commands<"queued", S> {
  /** The queued commands, split by node. */
  protected readonly split: PipelineSplit<N>;

  /** @internal As `PipelineSplit`'s constructor. */
  constructor(
    route: (slot: number, read: boolean) => N,
    replicaReads: boolean,
    keyPrefix: KeyPrefix | null,
    keepIssued: boolean,
  ) {
    super();
    this.split = new PipelineSplit(route, replicaReads, keyPrefix, keepIssued);
  }

  /** Commands queued and not yet executed. */
  get length(): number {
    return this.split.length;
  }

  /**
   * Queues any command. MULTI / EXEC / DISCARD / WATCH / UNWATCH are accepted when the pipeline closes what it
   * opens; every keyed command of such a pipeline must then be in one slot.
   */
  addCommand<C extends string>(command: C, ...args: Arg[]): Added<S, C> {
    this.split.checkByName(command, args);
    this.split.queue(command, args, null, false, true);
    return this as unknown as Added<S, C>;
  }

  /** Forgets the queued commands. */
  discard(): void {
    this.split.discard();
  }

  /** Queues one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Queued<S, T> {
    this.split.queue(command, args, transform as Transform<unknown> | null, asBuffer, false);
    return this as unknown as Queued<S, T>;
  }
}

/**
 * A pipeline on a cluster pool, from `cluster.pipeline()`: queue commands with its methods, then
 * `await execute()`. Commands for different nodes run in parallel; replies come back in queue order.
 *
 * @example
 * ```ts
 * const [a, b] = await cluster.pipeline().set("a", "1").get("b").execute();
 * ```
 */
export class ClusterPipeline<R extends unknown[] = [], Q extends unknown[] | null = null>
  extends SplitPipeline<ClusterQueue<R, Q>, number> {
  readonly #host: PipelineHost;
  /** Blocks sent before `execute()` (a long pipeline's), with the pipeline indexes of their commands. */
  #early: { indexes: number[]; replies: Promise<KeptReplies> }[] = [];

  /** @internal Pipelines come from `cluster.pipeline()`. */
  constructor(host: PipelineHost) {
    super(host.route, host.replicaReads, host.keyPrefix, false);
    this.#host = host;
    this.split.sendEarly = (part) => this.#sendEarly(part);
  }

  /** Forgets the queued commands (those a long pipeline sent already still run). */
  override discard(): void {
    this.#early = [];
    super.discard();
  }

  /** Sends the queued commands; resolves with their replies in queue order, error replies in place. */
  execute(): Promise<Replies<R>> {
    return this.#execute(false) as Promise<Replies<R>>;
  }

  /** As `execute()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  executeBuffer(): Promise<RawReplies<R>> {
    return this.#execute(true) as Promise<RawReplies<R>>;
  }

  /**
   * Ends the transaction `multi()` began (its keys in one slot): queues EXEC, sends it to the slot's node and
   * resolves with EXEC's reply alone (see `Pipeline.exec`), or null when a WATCHed key changed.
   */
  exec(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): Promise<Executed<Q>> {
    return this.#close(false) as Promise<Executed<Q>>;
  }

  /** As `exec()`, with every bulk string as `Uint8Array` and no typed method's shaping. */
  execBuffer(..._noMultiOpenCallExecuteInstead: ExecArgs<Q>): Promise<RawExecuted<Q>> {
    return this.#close(true) as Promise<RawExecuted<Q>>;
  }

  /** Queues EXEC after an open MULTI, executes, and takes EXEC's reply. */
  #close(allBuffers: boolean): Promise<Reply[] | null> {
    if (!this.split.inTransaction) return Promise.reject(notInTransaction());
    this.addCommand("EXEC");
    return this.#execute(allBuffers).then(execReply);
  }

  #execute(allBuffers: boolean): Promise<Reply[]> {
    const early = this.#early;
    this.#early = [];
    let batch: Batch<number> | null;
    try {
      batch = this.split.take(allBuffers);
    } catch (e) {
      return Promise.reject(e);
    }
    if (batch === null) return Promise.resolve([]);
    if (early.length > 0) return this.#executeRest(early, batch, allBuffers);
    const { parts, transforms, asBuffer, transaction, alone } = batch;
    if (alone) return this.#transaction(parts[0]!, transforms, asBuffer);
    if (parts.length === 1) return this.#send(parts[0]!, transforms, asBuffer, transaction);
    const sent = parts.map((part) => {
      const some = part.plan(transforms, asBuffer);
      return this.#send(part, some.transforms, some.asBuffer, false);
    });
    return Promise.all(sent).then((answers) => inQueueOrder(batch, answers));
  }

  /** Sends a node's share now, before `execute()`: the node works while the caller queues the rest. */
  #sendEarly(part: Part<number>): void {
    const { encoder, starts } = part, sent = part.sent();
    const replies = this.#onConnection(part, (connection) => {
      const ids: number[] = [];
      const replies = this.#host.core().sendEarly(connection, encoder, starts, ids, null);
      this.#host.sent(ids, sent);
      return replies;
    });
    replies.catch(() => {}); // execute() reports it; until then a failure is not unhandled
    this.#early.push({ indexes: part.indexes, replies });
    part.clear(this.#host.core().blockEncoder());
  }

  /** Runs `send` with the connection the part goes on (later, while its node is down). */
  #onConnection<T>(part: Part<number>, send: (connection: number) => Promise<T>): Promise<T> {
    const connection = this.#host.connection(part.route, part.slots);
    return typeof connection === "number" ? send(connection) : connection.then(send);
  }

  /** Sends the commands queued since the blocks sent early, and puts every reply in queue order, shaped as asked. */
  async #executeRest(
    early: { indexes: number[]; replies: Promise<KeptReplies> }[],
    batch: Batch<number>,
    allBuffers: boolean,
  ): Promise<Reply[]> {
    const { parts, transforms, asBuffer, transaction } = batch;
    // Unshaped here: shaped below all together, in queue order (a transaction's replies in EXEC's array).
    const sent = parts.map((part) => {
      const unshaped = new Array<null>(part.starts.length).fill(null);
      return this.#send(part, unshaped, part.plan(transforms, asBuffer).asBuffer, transaction);
    });
    const [kept, answers] = await Promise.all([Promise.all(early.map((block) => block.replies)), Promise.all(sent)]);
    const replies = inQueueOrder(batch, answers);
    for (let b = 0; b < early.length; b++) kept[b]!.decodeInto(replies, early[b]!.indexes, 0, asBuffer, allBuffers);
    return applyTransforms(replies, transforms);
  }

  /**
   * A transaction sent alone (`Batch.alone`): sent again whole where a redirection says while one keeps it from
   * running (`transactionRedirect`); its bytes are kept for that until it has run.
   */
  async #transaction(
    part: Part<number>,
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
  ): Promise<Reply[]> {
    const sent = part.sent(), slot = sent.slots.find((one) => one !== ANY_SLOT) ?? ANY_SLOT;
    let replies = await this.#send(part, transforms, asBuffer, true);
    for (let attempt = 0;; attempt++) {
      const redirect = transactionRedirect(replies);
      const next = redirect === null ? null : await this.#host.redirected(redirect, slot, attempt);
      if (next === null) return replies;
      const again = new Part(next.route), encoder = again.encoder;
      if (next.asking) {
        again.starts.push(0);
        again.slots.push(ANY_SLOT);
        encoder.add("ASKING", []);
      }
      for (let k = 0; k < sent.starts.length; k++) {
        again.starts.push(encoder.length);
        again.slots.push(sent.slots[k]!);
        encoder.addPacked(sent.bytes, sent.starts[k]!, sent.starts[k + 1] ?? sent.bytes.length);
      }
      if (!next.asking) replies = await this.#send(again, transforms, asBuffer, true);
      else replies = (await this.#send(again, [null, ...transforms], [false, ...asBuffer], true)).slice(1);
    }
  }

  /** One node's share as one block; a transaction's commands are not re-sent one by one on a redirection. */
  #send(
    part: Part<number>,
    transforms: (Transform<unknown> | null)[],
    asBuffer: boolean[],
    transaction: boolean,
  ): Promise<Reply[]> {
    const sent = transaction ? null : part.sent();
    return this.#onConnection(part, (connection) => {
      const ids: number[] = [];
      const promise = this.#host.core().group(connection, part.encoder, part.starts, transforms, asBuffer, ids);
      this.#host.sent(ids, sent);
      return promise;
    });
  }
}
