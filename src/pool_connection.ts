/**
 * One of a pool's exclusive connections, acquired by one caller: for WATCH /
 * MULTI / EXEC across awaits, SELECT, blocking commands in a row… Nobody else
 * sends on it until it is released.
 */
import { ScanningCommands } from "./scanning.ts";
import type { Transform } from "./replies.ts";
import { ClosedError, type CpipeError } from "./errors.ts";
import { checkCommand } from "./guards.ts";
import type { PoolCore } from "./pool_core.ts";
import { PoolPipeline } from "./pool_pipeline.ts";
import { classify, STATEFUL, TransactionTracker } from "./pool_routing.ts";
import type { Arg, Reply } from "./types.ts";
import { type KeyPrefix, withKeyPrefixOrError } from "./key_positions.ts";

/** How a connection was lent: what takes it back, and a key prefix its core does not put on keys (a cluster's). */
export interface Lease {
  /** Takes the connection back; `reusable`: no state of its holder is left on it, another may have it. */
  release(reusable: boolean): void;
  readonly keyPrefix: KeyPrefix | null;
}

/**
 * A connection of the pool's own, from `pool.acquire()` (or a cluster pool's `acquire(key)`). Release it (or let
 * `await using` do it); one whose state was changed (SELECT, an open WATCH
 * or MULTI…) is closed rather than handed to the next caller. `commandTimeout`
 * bounds its calls as it does the shared connections', except the commands
 * that block by design (BLPOP, XREAD BLOCK, WAIT…).
 *
 * @example
 * ```ts
 * await using c = await pool.acquire();
 * await c.send("WATCH", "balance");
 * const balance = Number(await c.get("balance"));
 * const [result] = await c.pipeline().addCommand("MULTI").set("balance", balance - 10).addCommand("EXEC").execute();
 * ```
 */
export class PoolConnection extends ScanningCommands {
  readonly #core: PoolCore;
  readonly #connection: number;
  #released = false;
  readonly #transaction = new TransactionTracker();
  /** A command changed the connection's state (SELECT, CLIENT SETNAME…). */
  #dirty = false;

  readonly #lease: Lease;

  /** @internal Use `pool.acquire()`. */
  constructor(
    core: PoolCore,
    connection: number,
    lease: Lease = { release: (reusable) => core.release(connection, reusable), keyPrefix: null },
  ) {
    super();
    this.#core = core;
    this.#connection = connection;
    this.#lease = lease;
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#released;
  }

  /** Sends any command on this connection; an error reply rejects with `ReplyError`. `T`: as `Pool.send`. */
  send<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send(command, args, false) as Promise<T>;
  }

  /** As `send`, with bulk strings as `Uint8Array`. */
  sendBuffer<T = Reply>(command: string, ...args: Arg[]): Promise<T> {
    return this.#send(command, args, true) as Promise<T>;
  }

  /** A transaction on this connection, after its `watch` if any: see `Pool.multi`. */
  multi(): PoolPipeline<["OK"], []> {
    return this.pipeline().addCommand("MULTI");
  }

  /** A pipeline on this connection. */
  pipeline(): PoolPipeline {
    const core = this.#core;
    return new PoolPipeline(core, this.#connection, (names) => {
      // A pipeline made before release() would go to the connection's next holder, maybe into its transaction.
      const refused = this.#refusal();
      if (refused !== null) throw refused;
      const sameSession = this.#holdsState;
      for (const name of names) this.#track(name, []);
      return sameSession;
    }, this.#lease.keyPrefix ?? core.keyPrefix);
  }

  /** Gives the connection back to the pool. Safe to call twice. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#lease.release(!(this.#dirty || this.#transaction.open));
  }

  /** `release()`, for `await using c = await pool.acquire()`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }

  /** A generated method's command that changes the connection (SELECT, WATCH…): followed as `send` follows it. */
  protected override route<T>(
    command: string,
    args: Arg[],
    asBuffer: boolean,
    transform: Transform<T> | null = null,
  ): Promise<T> {
    return this.#send(command, args, asBuffer, transform) as Promise<T>;
  }

  /** Sends one command for the typed methods; see `Commands`. */
  protected dispatch<T>(command: string, args: Arg[], transform: Transform<T> | null, asBuffer: boolean): Promise<T> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    // Inside MULTI the reply is "QUEUED": the shaping belongs to EXEC's array (a pipeline does it).
    const shape = this.#transaction.inMulti ? null : transform;
    const sent = withKeyPrefixOrError(this.#lease.keyPrefix, command, args);
    if (sent instanceof Error) return Promise.reject(sent);
    return this.#core.call(this.#connection, command, sent, shape, asBuffer, this.#holdsState);
  }

  #send(command: string, args: Arg[], asBuffer: boolean, transform: Transform<unknown> | null = null): Promise<Reply> {
    try {
      checkCommand(command, args[0]);
    } catch (e) {
      return Promise.reject(e);
    }
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    const sameSession = this.#holdsState;
    this.#track(command, args);
    // Inside MULTI the reply is "QUEUED": the shaping belongs to EXEC's array.
    const shape = this.#transaction.inMulti ? null : transform;
    const sent = withKeyPrefixOrError(this.#lease.keyPrefix, command, args);
    if (sent instanceof Error) return Promise.reject(sent);
    return this.#core.call(this.#connection, command, sent, shape, asBuffer, sameSession) as Promise<Reply>;
  }

  /**
   * The connection holds state its holder gave it (an open WATCH or MULTI, SELECT…): a call now needs the session
   * that has it. The connection redials by itself, and the server's new session has none of that state: a WATCH
   * would no longer guard the EXEC, writes would land in database 0. So the core refuses such a call, unsent, once
   * the connection dropped since the call before it (`CPIPE_CALL_SAME_SESSION`), whether or not this thread has
   * drained the drop yet; a connection with no state goes on as before.
   */
  get #holdsState(): boolean {
    return this.#dirty || this.#transaction.open;
  }

  /** Follows what a command leaves on the connection. */
  #track(command: string, args: readonly Arg[]): void {
    if (!this.#transaction.follow(command) && classify(command, args) === STATEFUL) this.#dirty = true;
  }

  /**
   * Why a call cannot go on this connection now, or null: it was released. (One that dropped after it was given
   * state is refused by the core: see `#holdsState`.)
   */
  #refusal(): CpipeError | null {
    return this.#released ? new ClosedError("cpipe: this pool connection was released") : null;
  }
}
