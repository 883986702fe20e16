/**
 * A cluster pool's connections for blocking commands (BLPOP, XREAD BLOCK…):
 * a command that waits on the server would stall every other caller on the
 * node's shared connection, so each runs on a connection of its own to the
 * node serving its key, as the single-node pool runs them on its exclusive
 * connections: at most `limit` per node, opened on first need, kept idle for
 * the next one, waited for (at most `acquireTimeout`) when all are busy.
 */
import { Role } from "../../ffi/abi.ts";
import { ClosedError, CpipeError, TimeoutError } from "../errors.ts";

/** What the blocking connections need of their cluster pool. */
export interface BlockingHost {
  addConnection(settings: Uint8Array, role: number): number;
  removeConnection(connection: number): void;
  /** A blocking connection's settings for a node (`host:port`): no command timeout. */
  settings(node: string): Uint8Array;
  /** Connections per node (the pool's `exclusiveConnections`). */
  readonly limit: number;
  /** What the connections are for, as errors name it: "blocking commands", "acquire()". */
  readonly use: string;
  /** How long a caller waits for a busy node's connection; 0: for ever. */
  readonly acquireTimeout: number;
}

interface Waiter {
  resolve(connection: number): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One node's blocking connections. */
interface NodeConnections {
  readonly idle: number[];
  /** Idle and busy. */
  readonly all: Set<number>;
  readonly waiters: Waiter[];
}

export class BlockingConnections {
  readonly #host: BlockingHost;
  readonly #nodes = new Map<string, NodeConnections>();
  #closed = false;

  constructor(host: BlockingHost) {
    this.#host = host;
  }

  /** A connection to `node` for one blocking command; give it back with `release`. */
  acquire(node: string): Promise<number> {
    if (this.#closed) return Promise.reject(new ClosedError("cpipe: the cluster client is closed"));
    const host = this.#host;
    if (host.limit === 0) {
      return Promise.reject(
        new CpipeError(`cpipe: ${host.use} on a cluster pool needs exclusiveConnections > 0 (it is 0)`),
      );
    }
    let at = this.#nodes.get(node);
    if (at === undefined) this.#nodes.set(node, at = { idle: [], all: new Set(), waiters: [] });
    const idle = at.idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (at.all.size < host.limit) {
      try {
        const connection = host.addConnection(host.settings(node), Role.DIRECT);
        at.all.add(connection);
        return Promise.resolve(connection);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const waiters = at.waiters;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      if (host.acquireTimeout > 0) {
        waiter.timer = setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) waiters.splice(index, 1);
          reject(
            new TimeoutError(
              `cpipe: all ${host.limit} connections for ${host.use} to ${node} stayed busy for ` +
                `${host.acquireTimeout} ms: ` +
                "raise exclusiveConnections or acquireTimeout",
            ),
          );
        }, host.acquireTimeout);
      }
      waiters.push(waiter);
    });
  }

  /**
   * Gives a connection back: to the next waiter for its node, else idle (closed when the node is gone). One not
   * `reusable` (its holder left state on it: a WATCH, SELECT…) is closed, and the next waiter gets a new one.
   */
  release(node: string, connection: number, reusable = true): void {
    const at = this.#nodes.get(node);
    if (this.#closed) return;
    if (at === undefined || !at.all.has(connection) || !reusable) {
      // Its node left the cluster meanwhile, or its state must not reach the next holder.
      at?.all.delete(connection);
      this.#host.removeConnection(connection);
      if (at === undefined || at.waiters.length === 0) return;
      try {
        connection = this.#host.addConnection(this.#host.settings(node), Role.DIRECT);
        at.all.add(connection);
      } catch (e) {
        const waiter = at.waiters.shift()!;
        clearTimeout(waiter.timer);
        waiter.reject(e as Error);
        return;
      }
    }
    const waiter = at.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.resolve(connection);
    } else {
      at.idle.push(connection);
    }
  }

  /** Closes the idle connections of nodes no longer in the cluster; busy ones close when released. */
  keepOnly(nodes: ReadonlySet<string>): void {
    for (const [node, at] of this.#nodes) {
      if (nodes.has(node)) continue;
      this.#nodes.delete(node);
      for (const connection of at.idle.splice(0)) this.#host.removeConnection(connection);
      const gone = new CpipeError(`cpipe: ${node} left the cluster`);
      for (const waiter of at.waiters.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.reject(gone);
      }
    }
  }

  /**
   * The pool closes: waiters reject; every connection, busy or not, closes now, so that commands blocked on the
   * server reject at once rather than hold the close for its `closeTimeout` (as the single-node pool cancels them).
   */
  close(): void {
    this.#closed = true;
    const closed = new ClosedError("cpipe: the cluster client is closed");
    for (const at of this.#nodes.values()) {
      for (const waiter of at.waiters.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.reject(closed);
      }
      for (const connection of at.all) this.#host.removeConnection(connection);
    }
    this.#nodes.clear();
  }
}
