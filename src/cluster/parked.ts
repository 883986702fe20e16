/**
 * Calls bound for a node whose connection is down wait here, not on that connection. A connection that redials
 * sends what it holds only when it is back: after a failover that may be never, and between two attempts (up to
 * `reconnectMaxDelay`) its calls would stall even once a replica took the slots over. Here a call waits for the
 * slot map or the node's return to give its slot a connection that is not down, at most `offlineTimeout` ms.
 */
import { ConnectionError } from "../errors.ts";
import { offlineTimeoutError } from "../offline_wait.ts";
import { QueueFullError } from "../pool_core.ts";
import { ANY_SLOT } from "./keys.ts";

interface Parked {
  readonly slot: number;
  readonly read: boolean;
  readonly deadline: number;
  readonly resolve: (connection: number) => void;
  readonly reject: (error: Error) => void;
}

/** What the parking asks of its cluster pool. */
export interface ParkingHost {
  /** The connection for a slot now (`read`: the command only reads). */
  route(slot: number, read: boolean): number;
  /** Whether a connection broke and has not come back. */
  down(connection: number): boolean;
  /** A master's connection that is not down, or -1: where a command without keys can go instead. */
  spare(): number;
  /** The connection's address and why it is down, for an error. */
  describe(connection: number): string;
  /** Counts a reason to keep the process alive (1) or its end (-1). */
  hold(delta: 1 | -1): void;
}

/** The calls of a cluster pool that wait for a node (see above), each until its deadline. */
export class ParkedCalls {
  readonly #host: ParkingHost;
  /** How long a call may wait, in milliseconds; 0 forever. */
  readonly #timeout: number;
  /** How many calls may wait (`maxQueued`). */
  readonly #limit: number;
  #parked: Parked[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Whether calls wait at all (`offlineQueue`): when not, one whose slot has no connection up fails at once. */
  readonly #wait: boolean;

  /** `timeout`: `offlineTimeout` (0 forever); `limit`: `maxQueued`; `wait`: `offlineQueue`. */
  constructor(host: ParkingHost, timeout: number, limit: number, wait = true) {
    this.#host = host;
    this.#timeout = timeout;
    this.#limit = limit;
    this.#wait = wait;
  }

  /**
   * The connection for a slot: now, unless it is down; then a promise of one that is not. A read whose replica is
   * down goes to the master meanwhile.
   */
  connection(slot: number, read: boolean): number | Promise<number> {
    const connection = this.#usable(slot, read);
    if (connection >= 0) return connection;
    if (!this.#wait) {
      const why = this.#why(slot, read);
      const message = `cpipe: no node that is up serves ${this.#what(slot)} (offlineQueue is off): ${why}`;
      return Promise.reject(new ConnectionError(message, { unsent: true }));
    }
    if (this.#parked.length >= this.#limit) {
      return Promise.reject(
        new QueueFullError(`cpipe: ${this.#parked.length} commands already wait for a node that is down (maxQueued)`),
      );
    }
    const host = this.#host;
    return new Promise<number>((resolve, reject) => {
      const deadline = this.#timeout === 0 ? Infinity : Date.now() + this.#timeout;
      if (this.#parked.length === 0) host.hold(1);
      this.#parked.push({ slot, read, deadline, resolve, reject });
      if (this.#timer === undefined && deadline !== Infinity) this.#arm(deadline);
    });
  }

  /** The slot map changed or a connection came up: calls whose slot has a connection that is not down go now. */
  recheck(): void {
    if (this.#parked.length === 0) return;
    const waiting: Parked[] = [];
    for (const call of this.#parked) {
      let connection: number;
      try {
        connection = this.#usable(call.slot, call.read);
      } catch (e) {
        call.reject(e as Error);
        continue;
      }
      if (connection < 0) waiting.push(call);
      else call.resolve(connection);
    }
    this.#keep(waiting);
  }

  /**
   * The connection for a slot that is not down, or -1: a read's master when its replica is down, any master that is up
   * for a command without keys (PUBLISH, a script without keys).
   */
  #usable(slot: number, read: boolean): number {
    const host = this.#host, connection = host.route(slot, read);
    if (!host.down(connection)) return connection;
    if (slot === ANY_SLOT) return host.spare();
    if (!read) return -1;
    const master = host.route(slot, false);
    return host.down(master) ? -1 : master;
  }

  /** Fails every waiting call (the pool closes). */
  fail(error: Error): void {
    for (const call of this.#parked) call.reject(error);
    this.#keep([]);
  }

  /** Keeps `waiting` as the calls that still wait; with none, lets the process go and stops the timer. */
  #keep(waiting: Parked[]): void {
    const had = this.#parked.length;
    this.#parked = waiting;
    if (had > 0 && waiting.length === 0) this.#host.hold(-1);
    if (waiting.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(deadline: number): void {
    this.#timer = setTimeout(this.#expire, Math.max(0, deadline - Date.now()));
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = Date.now(), waiting: Parked[] = [];
    let next = Infinity;
    for (const call of this.#parked) {
      if (call.deadline > now) {
        waiting.push(call);
        next = Math.min(next, call.deadline);
        continue;
      }
      call.reject(
        offlineTimeoutError(`no node took ${this.#what(call.slot)}`, this.#timeout, this.#why(call.slot, call.read)),
      );
    }
    this.#keep(waiting);
    if (next !== Infinity) this.#arm(next);
  };

  /** What a call waits for a node for, in an error. */
  #what(slot: number): string {
    return slot < 0 ? "a command without keys" : `slot ${slot}`;
  }

  /** Why the connection for a slot is down, in an error. */
  #why(slot: number, read: boolean): string {
    const host = this.#host;
    try {
      return host.describe(host.route(slot, read));
    } catch (e) {
      return String(e);
    }
  }
}
