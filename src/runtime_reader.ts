/**
 * A connection whose socket the runtime reads for the core (`cpipe_pool_hand_over`): every chunk the runtime
 * reads goes to `cpipe_pool_feed`, and the records it completes are drained at once, so a reply wakes the
 * JavaScript thread alone. The core ends the socket whenever the connection fails; this reader then stops for
 * good (the next connect is handed over anew, to a new reader).
 */
import { native } from "../ffi/load.ts";
import type { Handle } from "../ffi/symbols.ts";
import { read, type Watched } from "./notifier.ts";

const EMPTY = new Uint8Array(0);

export class RuntimeReader {
  readonly #handle: Handle;
  readonly #connection: number;
  readonly #fd: number;
  /** Drains the pool; undefined once the pool is gone (reached weakly: a socket must not keep a pool alive). */
  readonly #drain: () => (() => void) | undefined;
  #reader: Watched | null = null;
  #paused = false;
  /**
   * Stopped: nothing more is fed. Set before the descriptor closes, since its number may be given to the next
   * hand-over at once, and a late end-of-stream of this one must not be taken for that one's.
   */
  #stopped = false;

  /** Starts reading `fd`, handed over for `connection`; `drain` reaches the pool's drain, weakly. */
  constructor(handle: Handle, connection: number, fd: number, drain: () => (() => void) | undefined) {
    this.#handle = handle;
    this.#connection = connection;
    this.#fd = fd;
    this.#drain = drain;
    read(fd, (bytes) => this.#feed(bytes), () => this.#end()).then((reader) => {
      this.#reader = reader;
      if (this.#stopped) reader.close();
      else if (this.#paused) reader.pause();
    }, () => {
      // The runtime could not take the descriptor: the connection cannot be read, so the core fails it.
      this.#end();
    });
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops reading (a slow subscriber): what the server sends stays in its output buffer. */
  pause(paused: boolean): void {
    this.#paused = paused;
    if (paused) this.#reader?.pause();
    else this.#reader?.resume();
  }

  /** Stops for good and closes the descriptor. */
  stop(): void {
    this.#stopped = true;
    this.#reader?.close();
  }

  #feed(bytes: Uint8Array): void {
    if (this.#stopped) return;
    const drain = this.#drain();
    if (drain === undefined) return this.stop();
    // Refused: the connection failed since (its bytes belong to no call).
    if (native.cpipe_pool_feed(this.#handle, this.#connection, this.#fd, bytes, bytes.length) < 0) this.stop();
    drain();
  }

  /** The end of the stream, or a failure of the socket: the core fails the connection, unless it did already. */
  #end(): void {
    if (!this.#stopped) this.#feed(EMPTY);
    this.stop();
  }
}
