/**
 * What the servers' own command specs say about a command, read from the
 * generated src/command_table.ts: its entry (`commandInfo`), where its keys
 * are (`keyPositions`, for a cluster router and `keyPrefix`), whether it can
 * block (`isBlocking`) and how many replies it owes (`repliesOwed`, for the
 * engine's reply accounting).
 *
 * The table is decoded on the first call, not at import; the documentation
 * (`commandDocs`) is loaded only when asked for. Arguments are given
 * as the command is sent, without its name: `keyPositions("get", ["k"])`,
 * `commandInfo("client", ["setname", "x"])`; a position is an index into that
 * argument list.
 *
 * @module
 */
import { BACKSLASH, COMMAND_ROWS, COMMAND_TABLE_SOURCES, QUOTE } from "./command_table.ts";
import { type RowKeySpec, text } from "./key_positions.ts";

export { type KeyPositionOptions, keyPositions } from "./key_positions.ts";

/** One argument of a command as sent: strings and bytes, numbers as their decimal text. */
export type CommandArg = string | Uint8Array | number | bigint;

/** Where a key spec starts looking: a fixed index, after a keyword, or only the server knows. */
export type KeySpecBegin =
  | { readonly type: "index"; readonly index: number }
  | { readonly type: "keyword"; readonly keyword: string; readonly startFrom: number }
  | { readonly type: "unknown" };

/** How a key spec finds its keys from where it starts: a range, a count argument, or only the server knows. */
export type KeySpecFind =
  | { readonly type: "range"; readonly lastKey: number; readonly step: number; readonly limit: number }
  | { readonly type: "keynum"; readonly keyNumIndex: number; readonly firstKey: number; readonly step: number }
  | { readonly type: "unknown" };

/**
 * One key spec as the server declares it (indexes count the command name as 0, as the server does).
 * `flags` are the spec's own: `RO`, `RW`, `OW`, `RM`, `ACCESS`, `UPDATE`, `INSERT`, `DELETE`, `NOT_KEY`,
 * `INCOMPLETE`, `VARIABLE_FLAGS`.
 */
export interface KeySpec {
  readonly flags: readonly string[];
  readonly begin: KeySpecBegin;
  readonly find: KeySpecFind;
}

/** One argument in a command's argument tree (`oneof` and `block` arguments have children). */
export interface CommandArgument {
  readonly name: string;
  /** `key`, `string`, `integer`, `double`, `pattern`, `unix-time`, `pure-token`, `oneof` or `block`. */
  readonly type: string;
  readonly token?: string;
  readonly optional?: boolean;
  readonly multiple?: boolean;
  /** The token is repeated before each value (`GET a GET b`). */
  readonly multipleToken?: boolean;
  readonly since?: string;
  readonly display?: string;
  readonly keySpecIndex?: number;
  readonly deprecatedSince?: string;
  readonly summary?: string;
  readonly arguments?: readonly CommandArgument[];
}

/** A command's documentation; `reply` is its reply schema (JSON Schema) without the prose. */
export interface CommandDocs {
  readonly summary: string;
  readonly complexity?: string;
  readonly arguments?: readonly CommandArgument[];
  readonly reply?: unknown;
  readonly deprecatedSince?: string;
  readonly replacedBy?: string;
  /** Where Valkey's documentation differs from Redis': those fields, as Valkey has them (`null`: absent). */
  readonly valkey?: { readonly [K in Exclude<keyof CommandDocs, "valkey">]?: CommandDocs[K] | null };
}

/** Fields of an entry that Valkey's spec sets differently from Redis'. */
export interface ValkeyDifferences {
  readonly flags?: readonly string[];
  readonly aclCategories?: readonly string[];
  readonly tips?: readonly string[];
  readonly docFlags?: readonly string[];
  readonly group?: string;
}

/**
 * A command or subcommand of the pinned Redis and Valkey releases. Where only one server has it, the entry is
 * that server's; where both do, it is Redis' and `valkey` lists what Valkey sets differently (arity and key specs
 * never differ: the generator refuses that).
 */
export interface CommandInfo {
  /** Lower case; a subcommand as `container|sub`, e.g. `client|setname`. */
  readonly name: string;
  /** The container command of a subcommand (`client`), else undefined. */
  readonly container: string | undefined;
  /** The version that introduced it, per server that has it. */
  readonly servers: { readonly redis?: string; readonly valkey?: string };
  readonly since: string;
  readonly group: string;
  /** As COMMAND INFO: the argument count including the name (and subcommand); negative means "at least". */
  readonly arity: number;
  /** Command flags in lower case, as COMMAND INFO lists them: `write`, `readonly`, `blocking`, `pubsub`… */
  readonly flags: readonly string[];
  readonly keySpecs: readonly KeySpec[];
  /** Command tips in lower case: `request_policy:all_shards`, `nondeterministic_output`… */
  readonly tips: readonly string[];
  readonly aclCategories: readonly string[];
  /** `deprecated`, `syscmd`. */
  readonly docFlags: readonly string[];
  readonly valkey: ValkeyDifferences | undefined;
  /** A container's subcommands by lower-case name (`setname`), else undefined. */
  readonly subcommands: ReadonlyMap<string, CommandInfo> | undefined;
}

/** The releases the table was generated from. */
export const commandTableSources: { readonly redis: string; readonly valkey: string } = COMMAND_TABLE_SOURCES;

// ---- the row format written by scripts/gen-commands.ts ------------------------------------------------------

type Row = [
  name: string,
  servers: number,
  since: string | [string, string],
  group: string,
  arity: number,
  flags: string,
  keySpecs: RowKeySpec[],
  tips: string,
  acl: string,
  docFlags: string,
  valkey: Record<string, string> | 0,
  blockOptions: Record<string, number> | 0,
  docsAt: number,
];

/** The generated texts with their stand-ins put back (see src/command_table.ts). */
const unquote = (text: string): string => text.replaceAll(QUOTE, '"').replaceAll(BACKSLASH, "\\");

const split = (s: string): readonly string[] => s ? Object.freeze(s.split(" ")) : EMPTY;
const EMPTY: readonly string[] = Object.freeze([]);

class Entry implements CommandInfo {
  readonly name: string;
  readonly group: string;
  readonly arity: number;
  readonly container: string | undefined;
  readonly servers: { readonly redis?: string; readonly valkey?: string };
  readonly since: string;
  readonly flags: readonly string[];
  readonly keySpecs: readonly KeySpec[];
  readonly tips: readonly string[];
  readonly aclCategories: readonly string[];
  readonly docFlags: readonly string[];
  readonly valkey: ValkeyDifferences | undefined;
  readonly blocking: boolean;
  /** For a command that blocks only with an option: the tokens before the keys and their value counts. */
  readonly blockOptions: Readonly<Record<string, number>> | undefined;
  /** Lower-case subcommand name → row, for a container. */
  readonly subRows: Map<string, number> | undefined;
  private subEntries: Map<string, CommandInfo> | undefined = undefined;
  private parsedDocs: CommandDocs | undefined = undefined;

  constructor(row: Row, private readonly rowIndex: number, subRows: Map<string, number> | undefined) {
    const name = row[0];
    this.name = name;
    this.group = row[3];
    this.arity = row[4];
    this.subRows = subRows;
    const bar = name.indexOf("|");
    this.container = bar < 0 ? undefined : name.slice(0, bar);
    const since = row[2];
    const [redisSince, valkeySince] = typeof since === "string" ? [since, since] : since;
    this.since = redisSince;
    this.servers = Object.freeze({
      ...(row[1] & 1 ? { redis: redisSince } : {}),
      ...(row[1] & 2 ? { valkey: valkeySince } : {}),
    });
    this.flags = split(row[5]);
    this.tips = split(row[7]);
    this.aclCategories = split(row[8]);
    this.docFlags = split(row[9]);
    const v = row[10];
    this.valkey = v
      ? Object.freeze({
        ...(v.flags !== undefined ? { flags: split(v.flags) } : {}),
        ...(v.acl !== undefined ? { aclCategories: split(v.acl) } : {}),
        ...(v.tips !== undefined ? { tips: split(v.tips) } : {}),
        ...(v.docFlags !== undefined ? { docFlags: split(v.docFlags) } : {}),
        ...(v.group !== undefined ? { group: v.group } : {}),
      })
      : undefined;
    this.keySpecs = Object.freeze(row[6].map(toKeySpec));
    this.blocking = this.flags.includes("blocking");
    this.blockOptions = row[11] || undefined;
  }

  get subcommands(): ReadonlyMap<string, CommandInfo> | undefined {
    if (!this.subRows) return undefined;
    if (!this.subEntries) {
      this.subEntries = new Map();
      for (const [sub, i] of this.subRows) this.subEntries.set(sub, entryAt(i));
    }
    return this.subEntries;
  }

  /** This entry's slice of the documentation text, parsed once. */
  docsFrom(text: string): CommandDocs {
    if (this.parsedDocs) return this.parsedDocs;
    const end = rows![this.rowIndex + 1]?.[12] ?? text.length;
    return this.parsedDocs = JSON.parse(unquote(text.slice(rows![this.rowIndex]![12], end))) as CommandDocs;
  }
}

function toKeySpec([flags, begin, find]: RowKeySpec): KeySpec {
  return Object.freeze({
    flags: split(flags),
    begin: typeof begin === "number"
      ? (begin ? { type: "index", index: begin } as const : { type: "unknown" } as const)
      : { type: "keyword", keyword: begin[0].toUpperCase(), startFrom: begin[1] } as const,
    find: find === 0
      ? { type: "unknown" } as const
      : find[0] === "r"
      ? { type: "range", lastKey: find[1], step: find[2], limit: find[3] } as const
      : { type: "keynum", keyNumIndex: find[1], firstKey: find[2], step: find[3] } as const,
  });
}

/**
 * The decoded rows and a name → row index; an entry is built when its command is first asked for, so the first
 * call costs one JSON.parse of the rows (about a millisecond), not 418 entries.
 */
let rows: Row[] | undefined;
let rowByName: Map<string, number> | undefined;
let subRowsByContainer: Map<string, Map<string, number>> | undefined;
const entries: (Entry | undefined)[] = [];
/** Every spelling seen so far (`GET`, `get`, `Get`) → entry, so a hot name is one Map lookup. */
const byName = new Map<string, Entry | null>();

function load(): Map<string, number> {
  rows = JSON.parse(unquote(COMMAND_ROWS)) as Row[];
  const names = new Map<string, number>();
  const subs = new Map<string, Map<string, number>>();
  rows.forEach((row, i) => {
    const name = row[0];
    names.set(name, i);
    const bar = name.indexOf("|");
    if (bar > 0) {
      const container = name.slice(0, bar);
      let map = subs.get(container);
      if (!map) subs.set(container, map = new Map());
      map.set(name.slice(bar + 1), i);
    }
  });
  subRowsByContainer = subs;
  return rowByName = names;
}

function entryAt(i: number): Entry {
  const row = rows![i]!;
  return entries[i] ??= new Entry(row, i, subRowsByContainer!.get(row[0]));
}

function lookup(name: string | Uint8Array): Entry | undefined {
  const key = text(name);
  const hit = byName.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const i = (rowByName ?? load()).get(key.toLowerCase());
  const entry = i === undefined ? null : entryAt(i);
  // Names may be user input (any casing, unknown commands): the cache of spellings is bounded.
  if (byName.size < 4096) byName.set(key, entry);
  return entry ?? undefined;
}

/** The entry for `name`, or for its subcommand when `args[0]` names one. */
function resolve(name: string | Uint8Array, args: readonly CommandArg[] | undefined): Entry | undefined {
  const entry = lookup(name);
  if (!entry?.subRows || !args || args.length === 0) return entry;
  const i = entry.subRows.get(text(args[0]).toLowerCase());
  return i === undefined ? entry : entryAt(i);
}

/**
 * The table's entry for a command, or for its subcommand when `args` starts with one; undefined for a command
 * neither server has (a module's, a renamed one). Case-insensitive; the name may be bytes.
 *
 * @example
 * ```ts
 * commandInfo("client", ["setname", "x"])?.name; // "client|setname"
 * commandInfo("GET")?.arity; // 2
 * ```
 */
export function commandInfo(name: string | Uint8Array, args?: readonly CommandArg[]): CommandInfo | undefined {
  return resolve(name, args);
}

let docsText: Promise<string> | undefined;

/**
 * A command's (or subcommand's) documentation: summary, complexity, argument tree and reply schema, from
 * src/command_docs.ts, which is loaded on the first call (it is four times the size of the table, and nothing
 * on a command's path needs it). Undefined for a command the table does not know.
 *
 * @example
 * ```ts
 * (await commandDocs("get"))?.complexity; // "O(1)"
 * ```
 */
export async function commandDocs(
  name: string | Uint8Array,
  args?: readonly CommandArg[],
): Promise<CommandDocs | undefined> {
  const entry = resolve(name, args);
  if (!entry) return undefined;
  docsText ??= import("./command_docs.ts").then((m) => m.COMMAND_DOCS);
  return entry.docsFrom(await docsText);
}

/** Every entry of the table (commands and subcommands), sorted by name. */
export function allCommands(): readonly CommandInfo[] {
  return [...(rowByName ?? load()).values()].map(entryAt);
}

/**
 * Whether the command can block the connection until data arrives or a timeout passes: BLPOP and the other
 * B… commands, WAIT, WAITAOF, and XREAD/XREADGROUP only when given BLOCK. A blocking command should not share
 * a connection with other callers' commands, and its reply may come long after `commandTimeout`.
 *
 * @example
 * ```ts
 * isBlocking("xread", ["STREAMS", "s", "$"]); // false
 * isBlocking("xread", ["BLOCK", 0, "STREAMS", "s", "$"]); // true
 * ```
 */
export function isBlocking(name: string | Uint8Array, args: readonly CommandArg[]): boolean {
  const entry = resolve(name, args);
  if (!entry?.blocking) return false;
  const options = entry.blockOptions;
  if (!options) return true;
  // Walk the options by their value counts, so a value (a group named "block") is never read as the option.
  for (let i = 0; i < args.length; i++) {
    const word = text(args[i]).toLowerCase();
    if (word === "block") return true;
    const values = options[word];
    if (values === undefined) continue;
    if (values < 0) return false;
    i += values;
  }
  return false;
}

/** `repliesOwed` for a command whose replies depend on the connection's subscriptions. */
export const REPLIES_PER_SUBSCRIPTION = -1;

const SUBSCRIBE_FAMILY = new Set([
  "subscribe",
  "psubscribe",
  "ssubscribe",
  "unsubscribe",
  "punsubscribe",
  "sunsubscribe",
]);

/**
 * How many replies the server sends for this command:
 * - 1 for an ordinary command (an error reply included, and a command queued in MULTI: its QUEUED);
 * - one per channel (pattern, shard channel) given to SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, UNSUBSCRIBE,
 *   PUNSUBSCRIBE and SUNSUBSCRIBE, duplicates included (`SUBSCRIBE a a` owes 2). Under RESP3 these arrive as
 *   push frames, but they still answer this command;
 * - `REPLIES_PER_SUBSCRIPTION` (-1) for UNSUBSCRIBE, PUNSUBSCRIBE and SUNSUBSCRIBE without channels: one reply per
 *   channel of that kind the connection is subscribed to when the server runs it, or exactly one (with a null
 *   channel) when there are none. Each reply carries the connection's remaining subscription count, but that
 *   count includes the other kinds (UNSUBSCRIBE leaves patterns), so "until the count reaches 0" only holds when
 *   no other kind is subscribed; the engine must know the connection's subscriptions;
 * - 0 for CLIENT REPLY OFF and CLIENT REPLY SKIP. SKIP also silences the reply of the next command on the
 *   connection, whatever that command would owe; OFF silences every command until CLIENT REPLY ON (which owes 1).
 *
 * A command the table does not know owes 1. MONITOR owes 1 (+OK) and then streams pushes; QUIT, RESET and a
 * failing SHUTDOWN owe 1 (a successful SHUTDOWN closes the connection instead).
 *
 * @example
 * ```ts
 * repliesOwed("unsubscribe", ["a", "b"]); // 2
 * repliesOwed("client", ["reply", "off"]); // 0
 * ```
 */
export function repliesOwed(name: string | Uint8Array, args: readonly CommandArg[]): number {
  const entry = lookup(name);
  if (!entry) return 1;
  if (SUBSCRIBE_FAMILY.has(entry.name)) {
    if (args.length > 0) return args.length;
    // SUBSCRIBE alone is an arity error: one error reply.
    return entry.name.endsWith("unsubscribe") ? REPLIES_PER_SUBSCRIPTION : 1;
  }
  if (entry.name === "client" && args.length === 2 && text(args[0]).toLowerCase() === "reply") {
    const mode = text(args[1]).toLowerCase();
    if (mode === "off" || mode === "skip") return 0;
  }
  return 1;
}
