/** The connection events of a synchronous client: `Client`, and `SentinelClient` (its current server's client's). */
import { QueueingClientCommands } from "./client_queue.ts";
import { type ConnectionEvents, Emitter, EVENT_TYPES, type Listener } from "./events.ts";

/** A synchronous client with `on` and `off`. */
export abstract class ListeningClientCommands extends QueueingClientCommands {
  /** The client's connection events, emitted by the client. */
  protected readonly events: Emitter = new Emitter();

  /**
   * Listens to the client's connection: `ready` (reconnected, handshake replayed), `error` (it broke), `close`, and
   * `gap` (subscriptions made again after a lost connection, or on a new master after a failover). The first connect
   * happens in `connect()`, before a listener can be added: its failure is thrown.
   *
   * @example
   * ```ts
   * r.on("ready", ({ attempt }) => console.log(`redis back after ${attempt} failed attempts`));
   * ```
   */
  on<K extends keyof ConnectionEvents>(type: K, listener: Listener<K>): this {
    this.events.on(type, listener);
    return this;
  }

  /** Stops a listener added with `on`. */
  off<K extends keyof ConnectionEvents>(type: K, listener: Listener<K>): this {
    this.events.off(type, listener);
    return this;
  }

  /** Relays another client's events (a node's, the current server's) as this one's, but `close`: its own. */
  protected relay(source: ListeningClientCommands): void {
    for (const type of EVENT_TYPES) {
      if (type !== "close") source.on(type, (event) => this.events.emit(type, event as never));
    }
  }
}
