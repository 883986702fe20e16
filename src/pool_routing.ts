/**
 * Where a command may run in a pool. Shared connections interleave many
 * callers' commands, so a command that blocks the connection goes to an
 * exclusive one, and a command that changes the connection's state (its
 * database, its user, an open transaction, watched keys) is refused there:
 * it would change what other callers' commands do.
 */
import { CpipeError } from "./errors.ts";
import { keyword } from "./guards.ts";
import type { Arg } from "./types.ts";

/** How a pool runs a command. */
export const SHARED = 0, BLOCKING = 1, STATEFUL = 2;
export type Kind = typeof SHARED | typeof BLOCKING | typeof STATEFUL;

/** Commands that wait on the server until data comes or their timeout ends. */
const BLOCKING_COMMANDS = new Set([
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BLMOVE",
  "BLMPOP",
  "BZPOPMIN",
  "BZPOPMAX",
  "BZMPOP",
  "WAIT",
  "WAITAOF",
]);

/** XREAD and XREADGROUP block only with a BLOCK option. */
const BLOCKING_WITH_OPTION = new Set(["XREAD", "XREADGROUP"]);

/** Commands whose effect outlives them on the connection that ran them. */
const STATEFUL_COMMANDS = new Set([
  "AUTH",
  "SELECT",
  "HELLO",
  "RESET",
  "QUIT",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  "READONLY",
  "READWRITE",
]);

/** CLIENT subcommands that change the connection. */
const STATEFUL_CLIENT = new Set(["SETNAME", "TRACKING", "CACHING", "NO-EVICT", "NO-TOUCH", "SETINFO", "REPLY"]);

/** Transaction commands a pipeline may hold, when it closes what it opens. */
const TRANSACTION = new Set(["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"]);

/** The pool option that does what a refused command would. */
const OPTION_FOR: Record<string, string> = {
  AUTH: "`password` (and `username`)",
  SELECT: "`db`",
  HELLO: "`protocol: 3`",
};

const known = new Map<string, Kind>();

/** Classifies a command by name (and, for a few, by argument). */
export function classify(command: string, args: readonly Arg[]): Kind {
  const cached = known.get(command);
  if (cached !== undefined) return cached;
  const name = command.toUpperCase();
  let kind: Kind = SHARED;
  if (BLOCKING_WITH_OPTION.has(name)) {
    // Not cached: it depends on the arguments.
    for (const arg of args) if (keyword(arg) === "BLOCK") return BLOCKING;
    return SHARED;
  }
  if (name === "CLIENT") return STATEFUL_CLIENT.has(keyword(args[0])) ? STATEFUL : SHARED;
  if (BLOCKING_COMMANDS.has(name)) kind = BLOCKING;
  else if (STATEFUL_COMMANDS.has(name)) kind = STATEFUL;
  if (known.size < 1024) known.set(command, kind);
  return kind;
}

/** The error for a stateful command sent to shared connections. */
export function statefulError(command: string): CpipeError {
  const name = command.toUpperCase();
  const hint = TRANSACTION.has(name)
    ? "put MULTI ... EXEC in a pool.pipeline(), or use pool.acquire() for WATCH"
    : OPTION_FOR[name] !== undefined
    ? `set ${OPTION_FOR[name]} in the pool's options (replayed on every connection, after every reconnect)`
    : "set it in the pool's options, or use pool.acquire() for a connection of your own";
  return new CpipeError(`cpipe: ${name} would change a connection other callers share; ${hint}`);
}

/**
 * Follows MULTI / EXEC / WATCH on a connection: through a pipeline, so that
 * one sent on a shared connection leaves it as it found it, and on an acquired
 * connection, so that one left inside a transaction is not handed on.
 */
export class TransactionTracker {
  #inMulti = false;
  #watching = false;

  /** A MULTI or a WATCH is open. */
  get open(): boolean {
    return this.#inMulti || this.#watching;
  }

  /** Inside MULTI: the server answers "QUEUED", and a typed method's shaping waits for EXEC's array. */
  get inMulti(): boolean {
    return this.#inMulti;
  }

  /**
   * Throws when `command` cannot come next on a shared connection (it would
   * change its state, or the server refuses it here); records what it opens
   * or closes.
   */
  check(command: string, args: readonly Arg[]): void {
    const refused = this.#step(command.toUpperCase());
    if (refused) throw new CpipeError(`cpipe: ${refused}`);
    if (refused === undefined && classify(command, args) === STATEFUL) throw statefulError(command);
  }

  /**
   * Records what a transaction command opens or closes, as the server does;
   * false for any other command.
   */
  follow(command: string): boolean {
    return this.#step(command.toUpperCase()) !== undefined;
  }

  /**
   * For MULTI, EXEC, DISCARD, WATCH and UNWATCH: null once recorded, or why
   * it cannot come next (nothing recorded: the server refuses it too).
   * Undefined for any other command.
   */
  #step(name: string): string | null | undefined {
    switch (name) {
      case "MULTI":
        if (this.#inMulti) return "MULTI inside MULTI";
        this.#inMulti = true;
        return null;
      case "EXEC":
      case "DISCARD":
        if (!this.#inMulti) return `${name} without MULTI`;
        this.#inMulti = false;
        this.#watching = false;
        return null;
      case "WATCH":
        if (this.#inMulti) return "WATCH inside MULTI";
        this.#watching = true;
        return null;
      case "UNWATCH":
        if (!this.#inMulti) this.#watching = false;
        return null;
    }
    return undefined;
  }

  /** Throws when a MULTI or WATCH is still open. */
  assertClosed(): void {
    if (this.#inMulti) throw new CpipeError("cpipe: a pipeline on a pool must end its MULTI with EXEC or DISCARD");
    if (this.#watching) {
      throw new CpipeError("cpipe: a pipeline on a pool must end its WATCH with EXEC, DISCARD or UNWATCH");
    }
  }

  reset(): void {
    this.#inMulti = false;
    this.#watching = false;
  }
}
