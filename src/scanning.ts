/**
 * The SCAN family's iterators, written once on `send` for every executor: the asynchronous ones (a pool, a
 * sentinel pool, a cluster pool, an acquired connection) walk the cursor with awaits, the synchronous ones (a
 * client, a sentinel client, a cluster client) without. A cluster client walks every master for SCAN (its
 * override); the others go where `send` sends the key.
 */
import { Commands } from "./commands.ts";
import type { ScoredMember } from "./replies.ts";
import {
  type FieldValue,
  fieldValues,
  scanAll,
  scanAllSync,
  scanArgs,
  type ScanOptions,
  scoredMembers,
} from "./scan.ts";
import type { Arg, Reply } from "./types.ts";

/** SCAN's and SSCAN's pages' items, as they are. */
export const asItems = (items: string[]): string[] => items;

/** An asynchronous executor with the SCAN family's iterators. */
export abstract class ScanningCommands extends Commands<"async"> {
  /** Sends any command by name; see the executor's own. */
  abstract send<T = Reply>(command: string, ...args: Arg[]): Promise<T>;

  /**
   * Every key, page by page (SCAN), as an async iterator: a key present all along is seen at least once; one added
   * or removed meanwhile may or may not be.
   *
   * @example
   * ```ts
   * for await (const key of pool.scanIterator({ match: "session:*", type: "hash" })) await pool.del(key);
   * ```
   */
  scanIterator(options: ScanOptions = {}): AsyncGenerator<string, void, undefined> {
    return this.#pages("SCAN", [], options, asItems);
  }

  /** A hash's fields and values, page by page (HSCAN), as an async iterator. */
  hscanIterator(key: Arg, options: ScanOptions = {}): AsyncGenerator<FieldValue, void, undefined> {
    return this.#pages("HSCAN", [key], options, fieldValues);
  }

  /** A set's members, page by page (SSCAN), as an async iterator. */
  sscanIterator(key: Arg, options: ScanOptions = {}): AsyncGenerator<string, void, undefined> {
    return this.#pages("SSCAN", [key], options, asItems);
  }

  /** A sorted set's members with their scores, page by page (ZSCAN), as an async iterator. */
  zscanIterator(key: Arg, options: ScanOptions = {}): AsyncGenerator<ScoredMember, void, undefined> {
    return this.#pages("ZSCAN", [key], options, scoredMembers);
  }

  /** The pages of a SCAN-family command: `key` (none for SCAN), the cursor, then the options. */
  #pages<T>(command: string, key: Arg[], options: ScanOptions, shape: (items: string[]) => T[]): AsyncGenerator<T> {
    const args = scanArgs(options, key.length === 0);
    return scanAll((cursor) => this.send(command, ...key, cursor, ...args), shape);
  }
}

/** A synchronous executor with the SCAN family's iterators. */
export abstract class ScanningClientCommands extends Commands<"sync"> {
  /** Sends any command by name; see the executor's own. */
  abstract send<T = Reply>(command: string, ...args: Arg[]): T;

  /**
   * Every key, page by page (SCAN): a key present all along is seen at least once; one added or removed meanwhile
   * may or may not be.
   *
   * @example
   * ```ts
   * for (const key of r.scanIterator({ match: "session:*", count: 100 })) r.del(key);
   * ```
   */
  scanIterator(options: ScanOptions = {}): Generator<string, void, undefined> {
    return this.#pages("SCAN", [], options, asItems);
  }

  /** A hash's fields and values, page by page (HSCAN). */
  hscanIterator(key: Arg, options: ScanOptions = {}): Generator<FieldValue, void, undefined> {
    return this.#pages("HSCAN", [key], options, fieldValues);
  }

  /** A set's members, page by page (SSCAN). */
  sscanIterator(key: Arg, options: ScanOptions = {}): Generator<string, void, undefined> {
    return this.#pages("SSCAN", [key], options, asItems);
  }

  /** A sorted set's members with their scores, page by page (ZSCAN). */
  zscanIterator(key: Arg, options: ScanOptions = {}): Generator<ScoredMember, void, undefined> {
    return this.#pages("ZSCAN", [key], options, scoredMembers);
  }

  /** The pages of a SCAN-family command: `key` (none for SCAN), the cursor, then the options. */
  #pages<T>(command: string, key: Arg[], options: ScanOptions, shape: (items: string[]) => T[]): Generator<T> {
    const args = scanArgs(options, key.length === 0);
    return scanAllSync((cursor) => this.send(command, ...key, cursor, ...args), shape);
  }
}
