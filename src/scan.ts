/**
 * The SCAN family as iterators: one page's arguments and one page's reply,
 * shaped here; the client walks the cursor synchronously, the pool with
 * awaits.
 */
import type { Arg, Reply } from "./types.ts";
import { parseScore, type ScoredMember } from "./replies.ts";

/** Options of the scan iterators (the server's own: MATCH, COUNT, and TYPE for `scanIterator`). */
export interface ScanOptions {
  /** A glob-style pattern the keys (fields, members) must match. */
  match?: string;
  /** How much work one page does on the server (a hint, not a page size). Default: the server's (10). */
  count?: number;
  /** `scanIterator` only: keys of this type (`string`, `hash`, `zset`…). */
  type?: string;
}

/** A hash field with its value. */
export interface FieldValue {
  /** The field. */
  field: string;
  /** Its value. */
  value: string;
}

/** The arguments after the cursor. */
export function scanArgs(options: ScanOptions, withType: boolean): Arg[] {
  const args: Arg[] = [];
  if (options.match !== undefined) args.push("MATCH", options.match);
  if (options.count !== undefined) {
    if (!Number.isInteger(options.count) || options.count < 1) {
      throw new TypeError(`cpipe: count must be a whole number above 0, not ${options.count}`);
    }
    args.push("COUNT", options.count);
  }
  if (options.type !== undefined) {
    if (!withType) throw new TypeError("cpipe: type is an option of scanIterator only");
    args.push("TYPE", options.type);
  }
  return args;
}

/** One page: the next cursor ("0" at the end) and its flat items. */
export function scanPage(reply: Reply): { cursor: string; items: string[] } {
  const [cursor, items] = reply as [string, string[]];
  return { cursor, items };
}

/** HSCAN's flat field, value, field, value… as pairs. */
export function fieldValues(items: string[]): FieldValue[] {
  const out: FieldValue[] = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push({ field: items[i]!, value: items[i + 1]! });
  return out;
}

/** ZSCAN's flat member, score, member, score… as scored members. */
export function scoredMembers(items: string[]): ScoredMember[] {
  const out: ScoredMember[] = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push({ member: items[i]!, score: parseScore(items[i + 1]) });
  return out;
}

/** Every item of a SCAN-family walk, page after page: `send` sends one page's command for a cursor. */
export async function* scanAll<T>(
  send: (cursor: string) => Promise<Reply>,
  shape: (items: string[]) => T[],
): AsyncGenerator<T, void, undefined> {
  let cursor = "0";
  do {
    const page = scanPage(await send(cursor));
    cursor = page.cursor;
    yield* shape(page.items);
  } while (cursor !== "0");
}

/** As `scanAll`, for a synchronous client: `send` returns the page's reply. */
export function* scanAllSync<T>(
  send: (cursor: string) => Reply,
  shape: (items: string[]) => T[],
): Generator<T, void, undefined> {
  let cursor = "0";
  do {
    const page = scanPage(send(cursor));
    cursor = page.cursor;
    yield* shape(page.items);
  } while (cursor !== "0");
}
