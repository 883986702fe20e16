/**
 * What a client or a pool tells its listeners about its connections, made
 * from the core's connection-event records (src/records.ts): for logs and
 * metrics, not polled.
 */
import type { CpipeError } from "./errors.ts";
import type { ConnectionEvent } from "./records.ts";
import { errorFromStatus } from "./status.ts";
import { Status } from "../ffi/abi.ts";

/** The events of a `Client` or a `Pool`, by name, with what each listener receives. */
export interface ConnectionEvents {
  /** A connection is up and its handshake (AUTH, HELLO, SELECT…) replayed; `attempt`: failures just before. */
  ready: { connection: number; attempt: number };
  /** A connection broke or could not be made; `error` is typed (ConnectionError, TimeoutError, ProtocolError…). */
  error: { connection: number; error: CpipeError };
  /** A pool's connection will dial again in `delay` ms (the client reconnects on its next call instead). */
  reconnecting: { connection: number; attempt: number; delay: number };
  /** `close()` is done. */
  close: { connection: -1 };
  /**
   * The subscriber connection was lost and is back, every subscription made
   * again: messages published from `since` to `until` (ms since the epoch)
   * were lost, as Redis keeps none for a subscriber that is away.
   */
  gap: { connection: number; since: number; until: number };
}

/** A listener of event `K`. */
export type Listener<K extends keyof ConnectionEvents> = (event: ConnectionEvents[K]) => void;

type Listeners = { [K in keyof ConnectionEvents]: Listener<K>[] };

/** Every event's name. */
export const EVENT_TYPES: readonly (keyof ConnectionEvents)[] = ["ready", "error", "reconnecting", "close", "gap"];

/** The listeners of one client or pool. */
export class Emitter {
  #listeners: Listeners = { ready: [], error: [], reconnecting: [], close: [], gap: [] };

  on<K extends keyof ConnectionEvents>(type: K, listener: Listener<K>): void {
    const list = this.#listeners[type];
    if (list === undefined) {
      throw new TypeError(`cpipe: no event "${String(type)}"; events: ${EVENT_TYPES.join(", ")}`);
    }
    if (typeof listener !== "function") throw new TypeError(`cpipe: the listener of "${type}" must be a function`);
    list.push(listener);
  }

  off<K extends keyof ConnectionEvents>(type: K, listener: Listener<K>): void {
    const list = this.#listeners[type];
    const at = list?.indexOf(listener) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }

  emit<K extends keyof ConnectionEvents>(type: K, event: ConnectionEvents[K]): void {
    for (const listener of [...this.#listeners[type]]) {
      try {
        listener(event);
      } catch (e) {
        // A listener's failure is its own: reported as uncaught, after the core's records are handled.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  /** The public events a core event stands for. */
  connection(event: ConnectionEvent): void {
    if (event.type === "up") this.emit("ready", { connection: event.connection, attempt: event.attempt });
    if (event.type !== "down" || event.status === Status.ERR_CLOSED) return;
    const error = errorFromStatus(event.status, event.message, event.serverError);
    this.emit("error", { connection: event.connection, error });
    if (event.delay > 0) {
      this.emit("reconnecting", { connection: event.connection, attempt: event.attempt, delay: event.delay });
    }
  }
}
