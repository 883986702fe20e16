/**
 * Writes src/command_table.ts, src/command_docs.ts and the typed methods (scripts/gen-methods.ts) from the servers' own command specs (the JSON
 * files under `src/commands/` in the Redis and Valkey sources). Run through
 * `make commands`, which fetches the pinned releases and passes, per server,
 * `name=version=directory`:
 *
 *   deno run --allow-read --allow-write=src/command_table.ts,src/command_docs.ts,src/command_methods.ts,src/command_lists.ts scripts/gen-commands.ts \
 *     redis=8.0.2=build/command-specs/redis-8.0.2/src/commands valkey=8.1.1=...
 *
 * The output is data only, shaped for a fast import: the table (one JSON text
 * for what routing and reply accounting need, decoded once, on first use) and,
 * in a module of its own that is loaded only when asked for, the
 * documentation (a slice per command, parsed one at a time). The row
 * layout is described by `Row` and `DocsJson` in src/command_info.ts, which
 * reads it; change both together.
 */

import { generateMethods } from "./gen-methods.ts";

const OUT = "src/command_table.ts";
const METHODS_OUT = "src/command_methods.ts";
/** What the runtime reads at import: the generated methods' list and every command's key specs. */
const LISTS_OUT = "src/command_lists.ts";
/** The hand-written typed methods, which win over generated ones of the same name. */
const HAND_WRITTEN = "src/commands.ts";
const DOCS_OUT = "src/command_docs.ts";
/** Printable characters the specs do not use, standing in for `"` and `\\` in the generated literals. */
const QUOTE = "%";
const BACKSLASH = "&";

/** One server's spec of one command, as in the JSON files (the fields used here). */
export interface Spec {
  summary: string;
  since: string;
  group: string;
  complexity?: string;
  container?: string;
  arity: number;
  command_flags?: string[];
  acl_categories?: string[];
  doc_flags?: string[];
  deprecated_since?: string;
  replaced_by?: string;
  command_tips?: string[];
  key_specs?: SpecKey[];
  arguments?: SpecArg[];
  reply_schema?: unknown;
}

interface SpecKey {
  flags?: string[];
  begin_search: { index?: { pos: number }; keyword?: { keyword: string; startfrom: number }; unknown?: null };
  find_keys: {
    range?: { lastkey: number; step: number; limit: number };
    keynum?: { keynumidx: number; firstkey: number; step: number };
    unknown?: null;
  };
}

/** One argument of a spec, as in the JSON files. */
export interface SpecArg {
  name: string;
  type: string;
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  multiple_token?: boolean;
  since?: string;
  display?: string;
  key_spec_index?: number;
  deprecated_since?: string;
  summary?: string;
  arguments?: SpecArg[];
}

interface Server {
  name: "redis" | "valkey";
  version: string;
  specs: Map<string, Spec>;
}

function readServer(arg: string): Server {
  const [name, version, dir] = arg.split("=");
  if ((name !== "redis" && name !== "valkey") || !version || !dir) {
    throw new Error(`expected redis=VERSION=DIR or valkey=VERSION=DIR, got ${arg}`);
  }
  const specs = new Map<string, Spec>();
  const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".json")).map((e) => e.name);
  for (const file of files.sort()) {
    const json = JSON.parse(Deno.readTextFileSync(`${dir}/${file}`)) as Record<string, Spec>;
    for (const [cmd, spec] of Object.entries(json)) {
      const key = (spec.container ? `${spec.container}|${cmd}` : cmd).toLowerCase();
      if (specs.has(key)) throw new Error(`${name}: ${key} is specified twice`);
      specs.set(key, spec);
    }
  }
  if (specs.size === 0) throw new Error(`${name}: no command specs in ${dir}`);
  return { name, version, specs };
}

const words = (list: string[] | undefined): string => (list ?? []).map((w) => w.toLowerCase()).join(" ");

/** A key spec as [flags, begin, find]; see `RowKeySpec` in src/command_info.ts. */
function keySpec(k: SpecKey): unknown[] {
  const bs = k.begin_search;
  const begin = bs.index ? bs.index.pos : bs.keyword ? [bs.keyword.keyword.toLowerCase(), bs.keyword.startfrom] : 0;
  const fk = k.find_keys;
  const find = fk.range
    ? ["r", fk.range.lastkey, fk.range.step, fk.range.limit]
    : fk.keynum
    ? ["n", fk.keynum.keynumidx, fk.keynum.firstkey, fk.keynum.step]
    : 0;
  return [(k.flags ?? []).join(" "), begin, find];
}

/** The argument tree with camel-cased names and only the fields that are set. */
function args(list: SpecArg[] | undefined): unknown[] | undefined {
  if (!list) return undefined;
  return list.map((a) => {
    const out: Record<string, unknown> = { name: a.name, type: a.type };
    // MIGRATE's empty-string key is written `"\"\""` in the spec; on the wire (and in COMMAND DOCS) it is "".
    if (a.token !== undefined) out.token = a.token === '""' ? "" : a.token;
    if (a.optional) out.optional = true;
    if (a.multiple) out.multiple = true;
    if (a.multiple_token) out.multipleToken = true;
    if (a.since) out.since = a.since;
    if (a.display) out.display = a.display;
    if (a.key_spec_index !== undefined) out.keySpecIndex = a.key_spec_index;
    if (a.deprecated_since) out.deprecatedSince = a.deprecated_since;
    if (a.summary) out.summary = a.summary;
    if (a.arguments) out.arguments = args(a.arguments);
    return out;
  });
}

/** The reply schema without its prose: descriptions are for people, and the summary already says what comes back. */
function reduceSchema(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(reduceSchema);
  if (x && typeof x === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) {
      if (k === "description" && typeof v === "string") continue;
      out[k] = reduceSchema(v);
    }
    return out;
  }
  return x;
}

/**
 * For a blocking command whose blocking is an option (XREAD's BLOCK), the
 * top-level tokens and how many values follow each, up to the keyword after
 * which only keys and values come (-1): enough to find the option without
 * mistaking a value for it.
 */
function blockOptions(spec: Spec): Record<string, number> | 0 {
  if (!spec.command_flags?.includes("BLOCKING")) return 0;
  const top = spec.arguments ?? [];
  if (!top.some((a) => a.optional && a.token?.toUpperCase() === "BLOCK")) return 0;
  const out: Record<string, number> = {};
  for (const a of top) {
    if (!a.token) continue;
    const values = a.type === "pure-token" ? 0 : a.type === "block" ? (a.arguments?.length ?? 0) : 1;
    const tail = a.type === "block" && a.arguments?.some((c) => c.multiple);
    out[a.token.toLowerCase()] = tail ? -1 : values;
  }
  return out;
}

function docs(spec: Spec): Record<string, unknown> {
  const out: Record<string, unknown> = { summary: spec.summary };
  if (spec.complexity) out.complexity = spec.complexity;
  const a = args(spec.arguments);
  if (a) out.arguments = a;
  if (spec.reply_schema !== undefined) out.reply = reduceSchema(spec.reply_schema);
  if (spec.deprecated_since) out.deprecatedSince = spec.deprecated_since;
  if (spec.replaced_by) out.replacedBy = spec.replaced_by;
  return out;
}

/** The method names of the `Commands` class in src/commands.ts (two-space indented members). */
function handWrittenMethods(): Set<string> {
  const text = Deno.readTextFileSync(HAND_WRITTEN);
  const body = text.slice(text.indexOf("export abstract class Commands"));
  return new Set([...body.matchAll(/^ {2}(?:protected abstract )?([a-zA-Z]\w*)(?:<[^(]*>)?\(/gm)].map((m) => m[1]!));
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function main(): void {
  const servers = Deno.args.map(readServer);
  const redis = servers.find((s) => s.name === "redis");
  const valkey = servers.find((s) => s.name === "valkey");
  if (!redis || !valkey || servers.length !== 2) throw new Error("pass one redis=… and one valkey=… argument");

  const names = [...new Set([...redis.specs.keys(), ...valkey.specs.keys()])].sort();
  const rows: unknown[] = [];
  /** Name → key specs (as in the rows), or 1 for a container: src/key_positions.ts' own small table. */
  const keySpecs: Record<string, unknown> = {};
  const readOnly: string[] = [];
  const docTexts: string[] = [];
  const counts = { both: 0, redisOnly: 0, valkeyOnly: 0, valkeyDiffers: 0 };
  for (const name of names) {
    const r = redis.specs.get(name);
    const v = valkey.specs.get(name);
    const primary = (r ?? v)!;
    const mask = (r ? 1 : 0) | (v ? 2 : 0);
    if (mask === 3) counts.both++;
    else if (mask === 1) counts.redisOnly++;
    else counts.valkeyOnly++;
    // Routing must not depend on the server: fail loudly should the releases ever disagree.
    if (r && v && (r.arity !== v.arity || !same(r.key_specs, v.key_specs))) {
      throw new Error(`${name}: Redis and Valkey disagree on arity or key specs; the table has no place for that`);
    }
    const since = r && v && r.since !== v.since ? [r.since, v.since] : primary.since;
    // Where Valkey's spec differs from Redis', only the fields that differ are kept, for Valkey.
    const override: Record<string, string> = {};
    if (r && v) {
      for (
        const [field, pick] of [
          ["flags", (s: Spec) => words(s.command_flags)],
          ["acl", (s: Spec) => words(s.acl_categories)],
          ["tips", (s: Spec) => words(s.command_tips)],
          ["docFlags", (s: Spec) => words(s.doc_flags)],
          ["group", (s: Spec) => s.group],
        ] as const
      ) {
        if (pick(r) !== pick(v)) override[field] = pick(v);
      }
    }
    keySpecs[name] = names.some((n) => n.startsWith(`${name}|`)) ? 1 : (primary.key_specs ?? []).map(keySpec);
    const flags = words(primary.command_flags).split(" ");
    if (flags.includes("readonly") && !flags.includes("write")) readOnly.push(name);
    const docsAt = docTexts.reduce((n, t) => n + t.length, 0);
    rows.push([
      name,
      mask,
      since,
      primary.group,
      primary.arity,
      words(primary.command_flags),
      (primary.key_specs ?? []).map(keySpec),
      words(primary.command_tips),
      words(primary.acl_categories),
      words(primary.doc_flags),
      Object.keys(override).length ? override : 0,
      blockOptions(primary),
      docsAt,
    ]);
    const d = docs(primary);
    if (r && v) {
      const dv = docs(v);
      const differing: Record<string, unknown> = {};
      for (const k of new Set([...Object.keys(d), ...Object.keys(dv)])) {
        if (!same(d[k], dv[k])) differing[k] = dv[k] ?? null;
      }
      if (Object.keys(differing).length) d.valkey = differing;
    }
    if (Object.keys(override).length || d.valkey) counts.valkeyDiffers++;
    docTexts.push(JSON.stringify(d));
  }

  const rowsText = JSON.stringify(rows);
  const docsText = docTexts.join("");
  for (const [what, text] of [["rows", rowsText], ["docs", docsText]] as const) {
    if (text.includes(QUOTE) || text.includes(BACKSLASH) || text.includes("\n")) {
      throw new Error(`the ${what} contain ${QUOTE}, ${BACKSLASH} or a newline: choose other stand-ins`);
    }
  }
  const literal = (text: string): string => `"${text.replaceAll('"', QUOTE).replaceAll("\\", BACKSLASH)}"`;
  const header =
    `// Generated by \`make commands\` (scripts/gen-commands.ts) from the command specs of Redis ${redis.version} ` +
    `and Valkey ${valkey.version}. Do not edit.`;
  const tableModule = [
    header,
    "/**",
    " * Every command and subcommand of the pinned Redis and Valkey releases, as data that src/command_info.ts",
    " * decodes on first use. Their documentation is in src/command_docs.ts, loaded only when asked for: a module of",
    " * this one's size imports in under a millisecond, one with the documentation too took 3–8 ms in Deno.",
    " *",
    ' * `COMMAND_ROWS` is JSON in which `QUOTE` stands for `"` and `BACKSLASH` for `\\`, so that the literal holds no',
    " * escape: Bun imports a long escaped string literal about 3 ms slower than an unescaped one.",
    " *",
    " * @module",
    " */",
    "",
    "/** The releases whose `src/commands/*.json` this table was generated from. */",
    "export const COMMAND_TABLE_SOURCES: { readonly redis: string; readonly valkey: string } = {",
    `  redis: ${JSON.stringify(redis.version)},`,
    `  valkey: ${JSON.stringify(valkey.version)},`,
    "};",
    "",
    '/** Stands for `"` in `COMMAND_ROWS` and `COMMAND_DOCS`. */',
    `export const QUOTE: string = ${JSON.stringify(QUOTE)};`,
    "/** Stands for `\\` in `COMMAND_ROWS` and `COMMAND_DOCS`. */",
    `export const BACKSLASH: string = ${JSON.stringify(BACKSLASH)};`,
    "",
    "/** One row per command and subcommand, sorted by name; see `Row` in src/command_info.ts. */",
    `export const COMMAND_ROWS: string = ${literal(rowsText)};`,
    "",
  ];
  const docsModule = [
    header,
    "/**",
    " * The documentation of every entry of src/command_table.ts (summary, complexity, arguments, reply schema), each",
    ' * at the offset its row gives, with the stand-ins for `"` and `\\` that file declares. Loaded by',
    " * `commandDocs` in src/command_info.ts on first use, so that importing the table stays cheap.",
    " *",
    " * @module",
    " */",
    "",
    "/** JSON objects one after another; see `CommandDocs` in src/command_info.ts. */",
    `export const COMMAND_DOCS: string = ${literal(docsText)};`,
    "",
  ];
  Deno.writeTextFileSync(OUT, tableModule.join("\n"));
  const methods = generateMethods(header, redis, valkey, handWrittenMethods());
  Deno.writeTextFileSync(METHODS_OUT, methods.types);

  console.log(
    `${METHODS_OUT}, ${LISTS_OUT}: typed methods for ${methods.counts.redis} Redis and ${methods.counts.valkey} ` +
      `Valkey commands and subcommands (${methods.counts.methods} generated methods + ${methods.counts.buffers} ` +
      `Buffer variants, the rest hand-written); not generated: ${methods.skipped.join(", ")}`,
  );
  Deno.writeTextFileSync(DOCS_OUT, docsModule.join("\n"));
  const keysText = JSON.stringify(keySpecs);
  if (keysText.includes("'") || keysText.includes("\\")) throw new Error("the key specs contain ' or \\");
  Deno.writeTextFileSync(
    LISTS_OUT,
    [
      header,
      "/**",
      " * The lists the runtime reads from the specs, in one module (each module imported costs start-up time):",
      " * - `COMMAND_METHODS`, for `attachCommandMethods` in src/commands.ts: per method its name, the command, the",
      " *   subcommand (or empty) and flags (`b`: a `Buffer` variant too; `h`: only that variant, the plain one being",
      " *   hand-written; `r`: routed as `send` routes it, for a command that blocks or changes the connection);",
      " * - `KEY_SPECS`, for src/key_positions.ts: every command's key specs (as in src/command_table.ts' rows; 1 for a",
      " *   container), so that key positions (and `keyPrefix`) need not import the whole table. JSON in single",
      " *   quotes, which need no escape in it;",
      " * - `READ_ONLY`, for src/cluster/keys.ts: the commands and subcommands flagged `readonly` and not `write`",
      " *   (which a cluster may send to a replica), so that a cluster need not import the whole table either.",
      " *",
      " * @module",
      " */",
      "",
      "/** One method per `;`-separated entry: `name COMMAND SUBCOMMAND flags`. */",
      `export const COMMAND_METHODS: string = ${JSON.stringify(methods.list)};`,
      "",
      "/** Lower-case name → key specs, or 1 for a container command. */",
      `export const KEY_SPECS: string = '${keysText}';`,
      "",
      "/** Lower-case names (`container|sub` for a subcommand), space-separated. */",
      `export const READ_ONLY: string = ${JSON.stringify(readOnly.join(" "))};`,
      "",
    ].join("\n"),
  );

  const redisTop = [...redis.specs.values()].filter((s) => !s.container).length;
  const valkeyTop = [...valkey.specs.values()].filter((s) => !s.container).length;
  console.log(
    `${OUT}, ${DOCS_OUT}: ${rows.length} entries (Redis ${redis.version}: ${redisTop} commands + ${
      redis.specs.size - redisTop
    } subcommands; Valkey ${valkey.version}: ${valkeyTop} + ${valkey.specs.size - valkeyTop}; both ${counts.both}, ` +
      `Redis only ${counts.redisOnly}, Valkey only ${counts.valkeyOnly}, Valkey differing ${counts.valkeyDiffers})`,
  );
}

main();
