/**
 * A pipeline on a pool: its commands go to one connection as one contiguous
 * block, so a MULTI ... EXEC inside it stays whole; `execute()` resolves with
 * every reply in order, error replies in place.
 */
import type { Transform } from "./commands.ts";
import { Commands } from "./commands.ts";
import { CommandEncoder } from "./encoder.ts";
import { checkCommand } from "./guards.ts";
import type { PoolCore } from "./pool_core.ts";
import { BLOCKING, classify, TransactionTracker } from "./pool_routing.ts";
import type { Arg, Reply } from "./types.ts";

/**
 * A pipeline on a pool, from `pool.pipeline()`: queue commands with its
 * methods, then `await execute()`.
 *
 * @example
 * ```ts
 * await pool.pipeline().addCommand("MULTI").incr("n").addCommand("EXEC").execute(); // ["OK", "QUEUED", [1]]
 * ```
 */
export class PoolPipeline extends Commands<"queued", PoolPipeline> {
  readonly #core: PoolCore;
  /** -1: the pool's shared connections; else an exclusive connection's index. */
  readonly #route: number;
  /** Called with the names of the commands of each executed pipeline (exclusive connections track state). */
  readonly #onExecute: ((commands: readonly string[]) => void) | null;
  #encoder = new CommandEncoder();
  #starts: number[] = [];
  #names: string[] = [];
  #transforms: (Transform<unknown> | null)[] = [];
  #asBuffer: boolean[] = [];
  #blocking = false;
  readonly #tracker: TransactionTracker | null;

  /** @internal Pipelines come from `pool.pipeline()` or `connection.pipeline()`. */
  constructor(core: PoolCore, route: number, onExecute: ((commands: readonly string[]) => void) | null = null) {
    super();
    this.#core = core;
    this.#route = route;
    this.#onExecute = onExecute;
    this.#tracker = route < 0 ? new TransactionTracker() : null;
  }

  /** Commands queued and not yet executed. */
  get length(): number {
    return this.#transforms.length;
  }

  /**
   * Queues any command. On the pool's shared connections MULTI / EXEC /
   * DISCARD / WATCH / UNWATCH are accepted when the pipeline closes what it
   * opens; other commands that change a connection (SELECT, AUTH…) are not.
   */
  addCommand(command: string, ...args: Arg[]): this {
    checkCommand(command, args[0]);
    this.#tracker?.check(command, args);
    if (classify(command, args) === BLOCKING) this.#blocking = true;
    return this.#queue(command, args, null, false);
  }

  /** Sends the queued commands; resolves with their replies in order, error replies as `ReplyError` in place. */
  execute(): Promise<Reply[]> {
    return this.#execute(false);
  }

  /** As `execute()`, with every bulk string as `Uint8Array`. */
  executeBuffer(): Promise<Reply[]> {
    return this.#execute(true);
  }

  /** Forgets the queued commands. */
  discard(): void {
    this.#encoder.reset();
    this.#starts = [];
    this.#names = [];
    this.#transforms = [];
    this.#asBuffer = [];
    this.#blocking = false;
    this.#tracker?.reset();
  }

  /** Queues one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): PoolPipeline {
    return this.#queue(command, args, transform as Transform<unknown> | null, asBuffer);
  }

  #queue(command: string, args: Arg[], transform: Transform<unknown> | null, asBuffer: boolean): this {
    const start = this.#encoder.length;
    this.#encoder.add(command, args);
    this.#starts.push(start);
    this.#names.push(command);
    this.#transforms.push(transform);
    this.#asBuffer.push(asBuffer);
    return this;
  }

  #execute(allBuffers: boolean): Promise<Reply[]> {
    if (this.#transforms.length === 0) return Promise.resolve([]);
    try {
      this.#tracker?.assertClosed();
    } catch (e) {
      this.discard();
      return Promise.reject(e);
    }
    const encoder = this.#encoder, starts = this.#starts, transforms = this.#transforms;
    const asBuffer = allBuffers ? transforms.map(() => true) : this.#asBuffer;
    const blocking = this.#blocking, names = this.#names;
    this.#encoder = new CommandEncoder();
    this.discard();
    this.#onExecute?.(names);
    const core = this.#core;
    if (this.#route >= 0 || !blocking) return core.group(this.#route, encoder, starts, transforms, asBuffer);
    // A blocking command would hold up every caller of a shared connection.
    return (async () => {
      const connection = await core.acquire();
      try {
        return await core.group(connection, encoder, starts, transforms, asBuffer);
      } finally {
        core.release(connection, true);
      }
    })();
  }
}
