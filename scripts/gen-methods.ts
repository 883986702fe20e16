/**
 * The typed methods part of `make commands`: from the same specs as the table, a method per command and
 * subcommand (`clientInfo`, `xinfoStream`), written as two modules:
 *
 * - src/command_methods.ts: types only (an interface with a doc comment and a signature per method). It is
 *   imported with `import type` everywhere, so neither runtime ever loads it: its size costs nothing at start-up.
 * - `COMMAND_METHODS` in src/command_lists.ts: the few bytes the runtime needs to attach the methods (name,
 *   command, subcommand, flags), read by `attachCommandMethods` in src/commands.ts.
 *
 * Arguments are typed in wire order as a union of labelled tuples (editors show each as an overload with named
 * parameters); where the options of a command would multiply past `MAX_VARIANTS`, they become a loose rest of
 * their tokens and values. Replies are typed from the reply schemas as both protocols decode them.
 */

import type { Spec as MethodSpec, SpecArg as MethodArg } from "./gen-commands.ts";

/** Commands without a generated method, and why (the README and the report quote this list). */
export const NOT_GENERATED: Record<string, string> = {
  subscribe: "Pub/Sub has its own subscriber connection",
  psubscribe: "Pub/Sub has its own subscriber connection",
  ssubscribe: "Pub/Sub has its own subscriber connection",
  unsubscribe: "Pub/Sub has its own subscriber connection",
  punsubscribe: "Pub/Sub has its own subscriber connection",
  sunsubscribe: "Pub/Sub has its own subscriber connection",
  monitor: "streams pushes after its reply",
  sync: "a replica's stream, not a command reply",
  psync: "a replica's stream, not a command reply",
  "client|reply": "OFF and SKIP silence replies the engine counts",
  multi: "multi() begins a transaction pipeline, whose tuple type follows EXEC",
  exec: "a transaction pipeline's exec() returns EXEC's results",
  discard: "transactions go through addCommand; a pipeline's discard() forgets its queue",
};

/**
 * Commands that block or change the connection they run on: their methods go through the executor's routing
 * (`route` in src/commands.ts), as `send` does, so that a pool runs them on a connection of their own or refuses
 * them on shared ones. The blocking flag comes from the spec; the state changers are pool_routing.ts' list.
 */
const STATEFUL = new Set([
  "auth",
  "select",
  "hello",
  "reset",
  "quit",
  "watch",
  "unwatch",
  "readonly",
  "readwrite",
  "client|setname",
  "client|tracking",
  "client|caching",
  "client|no-evict",
  "client|no-touch",
  "client|setinfo",
]);

/** Past this many tuples per signature, a command's options become one loose rest. */
const MAX_VARIANTS = 24;

interface Element {
  label: string;
  type: string;
}
/** One tuple: required elements, then at most one rest, then required elements. */
interface Tuple {
  head: Element[];
  rest: Element | null;
  tail: Element[];
}

const RESERVED = new Set([
  "break",
  "case",
  "catch",
  "class",
  "const",
  "continue",
  "debugger",
  "default",
  "delete",
  "do",
  "else",
  "enum",
  "export",
  "extends",
  "false",
  "finally",
  "for",
  "function",
  "if",
  "import",
  "in",
  "instanceof",
  "new",
  "null",
  "return",
  "super",
  "switch",
  "this",
  "throw",
  "true",
  "try",
  "typeof",
  "var",
  "void",
  "while",
  "with",
]);

function camel(name: string): string {
  const parts = name.toLowerCase().split(/[^a-z0-9]+/).filter((p) => p);
  const out = parts.map((p, i) => (i ? p[0]!.toUpperCase() + p.slice(1) : p)).join("") || "arg";
  const id = /^[0-9]/.test(out) ? `_${out}` : out;
  return RESERVED.has(id) ? `${id}_` : id;
}

/** A method's name: the command in lower case (as the hand-written ones), a subcommand appended in camel case. */
export function methodName(entry: string): string {
  const [command, sub] = entry.split("|");
  const top = command!.replace(/[^a-z0-9]+(.)/g, (_, c: string) => c.toUpperCase());
  if (sub === undefined) return top;
  const tail = camel(sub);
  return top + tail[0]!.toUpperCase() + tail.slice(1).replace(/_$/, "");
}

const literal = (token: string): string => JSON.stringify(token);

function valueType(type: string): string {
  switch (type) {
    case "integer":
    case "unix-time":
      return "number | bigint | string";
    case "double":
      return "number | string";
    default:
      return "Arg";
  }
}

const EMPTY: Tuple = { head: [], rest: null, tail: [] };

/** Splits `text` at `separator` where no bracket (`<>`, `[]`, `()`) is open; the COMMAND DOCS test reads with it too. */
export function splitTopLevel(text: string, separator: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "<" || c === "[" || c === "(") depth++;
    else if (c === ">" || c === "]" || c === ")") depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      out.push(text.slice(start, i));
      start = i + separator.length;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** The members of a union type's text. */
function members(type: string): string[] {
  return splitTopLevel(type, " | ").map(unparen);
}

/** A type without the parentheses around all of it. */
function unparen(type: string): string {
  if (!type.startsWith("(") || !type.endsWith(")")) return type;
  let depth = 0;
  for (let i = 0; i < type.length - 1; i++) {
    if (type[i] === "(") depth++;
    else if (type[i] === ")") depth--;
    if (depth === 0) return type;
  }
  return type.slice(1, -1);
}

function union(types: string[]): string {
  const parts = new Set<string>();
  for (const t of types) for (const p of members(t)) parts.add(p);
  // Arg already holds strings, numbers and bigints: a token literal beside it would only lengthen the type.
  if (parts.has("Arg")) {
    for (const p of [...parts]) if (p.startsWith('"') || ["string", "number", "bigint"].includes(p)) parts.delete(p);
  }
  // `number` holds every numeric literal (EXPIRETIME's -1 and -2 beside its timestamps).
  if (parts.has("number")) { for (const p of [...parts]) if (/^-?[0-9]/.test(p)) parts.delete(p); }
  return [...parts].join(" | ");
}

function elementsOf(t: Tuple): Element[] {
  return [...t.head, ...(t.rest ? [t.rest] : []), ...t.tail];
}

function concat(a: Tuple, b: Tuple): Tuple {
  if (!a.rest) return { head: [...a.head, ...b.head], rest: b.rest, tail: b.tail };
  if (!b.rest) return { head: a.head, rest: a.rest, tail: [...a.tail, ...b.head] };
  // Two repeated parts in one tuple: TypeScript allows one rest, so both merge into one loose rest, and the
  // required elements between and after them follow it, as loose, so that the count of arguments stays exact.
  const rest = loose([...a.tail, b.rest, ...b.head, ...b.tail], a.rest);
  const tail = [...a.tail, ...b.head, ...b.tail].map((e) => ({ label: e.label, type: rest.type }));
  return { head: a.head, rest, tail };
}

function loose(elements: Element[], first: Element | null = null): Element {
  const all = first ? [first, ...elements] : elements;
  return { label: first?.label ?? "args", type: union(all.map((e) => e.type)) };
}

function product(a: Tuple[], b: Tuple[]): Tuple[] {
  const out: Tuple[] = [];
  for (const x of a) for (const y of b) out.push(concat(x, y));
  return dedupe(out);
}

function dedupe(list: Tuple[]): Tuple[] {
  const seen = new Map<string, Tuple>();
  for (const t of list) seen.set(tupleText(t, false), t);
  return [...seen.values()];
}

/**
 * Every variant of a segment as one tuple: the head they all share, then one loose rest, then as many loose
 * elements as the shortest variant still requires (so the least count of arguments stays exact).
 */
function collapse(variants: Tuple[], label: string): Tuple[] {
  const elements = variants.flatMap(elementsOf);
  if (elements.length === 0) return [EMPTY];
  let shared = 0;
  const first = variants[0]!.head;
  while (
    shared < first.length &&
    variants.every((v) =>
      v.head[shared]?.label === first[shared]!.label && v.head[shared]?.type === first[shared]!.type
    )
  ) shared++;
  const head = first.slice(0, shared);
  const type = union(variants.flatMap((v) => elementsOf(v).slice(shared)).map((e) => e.type));
  const shortest = variants.reduce((a, b) => (fixedCount(b) < fixedCount(a) ? b : a));
  // Named after the segment, not after the shortest variant's arguments (CLIENT KILL's ID would read as required).
  const count = shortest.head.length - shared + shortest.tail.length;
  const required = Array.from({ length: count }, (_, i) => ({ label: count === 1 ? label : `${label}${i + 1}`, type }));
  if (type === "") return [{ head, rest: null, tail: [] }];
  return [{ head, rest: { label, type }, tail: required }];
}

const fixedCount = (t: Tuple): number => t.head.length + t.tail.length;

/** The tuples one argument (with its token, repetition and optionality) may be sent as. */
function argVariants(a: MethodArg): Tuple[] {
  const label = camel(a.name);
  let item: Tuple[];
  // A pure token without a token field (DEBUG SIMULATE-FAILURE's modes) is sent as its name.
  if (a.type === "pure-token") item = [{ head: [{ label, type: literal(a.token ?? a.name) }], rest: null, tail: [] }];
  // One of the alternatives is sent: an alternative marked optional (CLIENT KILL's filters) is still one.
  else if (a.type === "oneof") {
    item = dedupe((a.arguments ?? []).flatMap((c) => argVariants({ ...c, optional: false })));
  } else if (a.type === "block") item = sequence(a.arguments ?? [], label);
  else item = [{ head: [{ label, type: valueType(a.type) }], rest: null, tail: [] }];
  if (a.token !== undefined && a.type !== "pure-token") {
    const token: Tuple = { head: [{ label: camel(a.token) || label, type: literal(a.token) }], rest: null, tail: [] };
    if (!a.multiple_token) item = product([token], item);
    else item = product([token], item);
  }
  if (a.multiple) {
    // One or more of the item: exact for a single element, loose after the first for a group (pairs, triples).
    item = item.map((t) => {
      const els = elementsOf(t);
      if (els.length === 0) return t;
      if (!t.rest && els.length === 1) {
        return { head: [els[0]!], rest: { label: `${els[0]!.label}s`, type: els[0]!.type }, tail: [] };
      }
      // One occurrence stays required; the repeats go loose (TypeScript cannot repeat a group).
      const rest = loose(els, { label: "more", type: els[0]!.type });
      return t.rest ? { head: t.head, rest, tail: t.tail } : { head: els, rest, tail: [] };
    });
    if (item.length > 1) item = collapse(item, label);
  }
  if (a.optional) item = dedupe([EMPTY, ...item]);
  return item;
}

/** The tuples a list of arguments may be sent as, in order. */
function sequence(args: MethodArg[], label: string): Tuple[] {
  let out: Tuple[] = [EMPTY];
  let options: Tuple[] = [EMPTY];
  const flush = (): void => {
    if (options.length > MAX_VARIANTS) options = collapse(options, "options");
    out = product(out, options);
    options = [EMPTY];
  };
  for (const a of args) {
    const v = argVariants(a);
    if (a.optional) options = product(options, v);
    else {
      flush();
      out = product(out, v);
    }
  }
  flush();
  if (out.length > MAX_VARIANTS) out = collapse(out, label);
  return out;
}

function tupleText(t: Tuple, labels = true): string {
  const el = (e: Element): string => labels ? `${e.label}: ${e.type}` : e.type;
  const parts = [...t.head.map(el)];
  if (t.rest) parts.push(labels ? `...${t.rest.label}: ${paren(t.rest.type)}[]` : `...${paren(t.rest.type)}[]`);
  parts.push(...t.tail.map(el));
  return `[${parts.join(", ")}]`;
}

/** For a spec without arguments (DEBUG, some of Sentinel's): as many values as its arity asks, more if it allows. */
function undocumented(spec: MethodSpec, subcommand: boolean): Tuple {
  const required = Math.abs(spec.arity) - (subcommand ? 2 : 1);
  const head = Array.from({ length: required }, (_, i) => ({ label: `arg${i + 1}`, type: "Arg" }));
  return { head, rest: spec.arity < 0 ? { label: "args", type: "Arg" } : null, tail: [] };
}

/** The parameter list of a method from its spec's arguments (each server's, merged). */
function parameters(specs: MethodSpec[], subcommand: boolean): string {
  const tuples = dedupe(
    specs.flatMap((s) => s.arguments ? sequence(s.arguments, "args") : [undocumented(s, subcommand)]),
  );
  if (tuples.length === 1 && tuples[0]!.head.length === 0 && !tuples[0]!.rest) return "";
  return `...args: ${tuples.map((t) => tupleText(t)).join(" | ")}`;
}

// ---- replies ------------------------------------------------------------------------------------------------

type Schema = Record<string, unknown>;

/** A reply schema as the decoder delivers it, under RESP2 or RESP3 (see `Double`, `RespMap` in types.ts). */
function replyType(schema: unknown, bytes: boolean): string {
  if (schema === undefined || schema === null || typeof schema !== "object") return "Reply";
  const s = schema as Schema;
  if ("const" in s) return JSON.stringify(s.const);
  const alternatives = (s.oneOf ?? s.anyOf) as unknown[] | undefined;
  if (alternatives) return union(alternatives.map((x) => paren(replyType(x, bytes))).filter((t) => t !== "never"));
  switch (s.type) {
    case "string":
      return bytes ? "Uint8Array" : "string";
    case "integer":
      return "number";
    case "number":
      return "Double";
    case "boolean":
      return "boolean | 0 | 1";
    case "null":
      return "null";
    case "array": {
      const items = s.items;
      if (Array.isArray(items)) return `[${items.map((x) => replyType(x, bytes)).join(", ")}]`;
      if (items === undefined) return "Reply[]";
      return `${paren(replyType(items, bytes))}[]`;
    }
    case "object": {
      const values: string[] = [];
      const props = s.properties as Record<string, unknown> | undefined;
      for (const v of Object.values(props ?? {})) values.push(replyType(v, bytes));
      const extra = s.additionalProperties;
      if (extra && typeof extra === "object") values.push(replyType(extra, bytes));
      else if (extra !== false && !props) values.push("Reply");
      return `RespMap<${values.length ? union(values.map(paren)) : "Reply"}>`;
    }
  }
  if (s.patternProperties) return "RespMap<Reply>";
  return "Reply";
}

const paren = (t: string): string => (members(t).length > 1 ? `(${t})` : t);

/** Whether a reply carries values (bulk strings) that a `*Buffer` variant would return as bytes. */
function carriesValues(schema: unknown): boolean {
  return replyType(schema, false) !== replyType(schema, true);
}

// ---- output -------------------------------------------------------------------------------------------------

function comment(text: string): string {
  return text.replaceAll("*/", "*\\/");
}

export interface GeneratedMethods {
  /** src/command_methods.ts. */
  types: string;
  /** `COMMAND_METHODS` of src/command_lists.ts: one method per `;`-separated entry, `name COMMAND SUBCOMMAND flags`. */
  list: string;
  counts: { redis: number; valkey: number; methods: number; buffers: number };
  skipped: string[];
}

/**
 * The two modules for the given specs. `handWritten` are the methods of src/commands.ts: those win (their
 * shaping is deliberate), so no generated method of that name is made.
 */
export function generateMethods(
  header: string,
  redis: { version: string; specs: Map<string, MethodSpec> },
  valkey: { version: string; specs: Map<string, MethodSpec> },
  handWritten: Set<string>,
): GeneratedMethods {
  const names = [...new Set([...redis.specs.keys(), ...valkey.specs.keys()])].sort();
  const containers = new Set(names.filter((n) => n.includes("|")).map((n) => n.split("|")[0]!));
  const members: string[] = [];
  const list: string[] = [];
  const counts = { redis: 0, valkey: 0, methods: 0, buffers: 0 };
  const skipped: string[] = [];
  const taken = new Map<string, string>();
  for (const name of names) {
    if (containers.has(name)) continue; // CLIENT, CONFIG…: their subcommands have the methods
    if (NOT_GENERATED[name]) {
      skipped.push(name);
      continue;
    }
    const r = redis.specs.get(name), v = valkey.specs.get(name);
    const specs = [r, v].filter((s): s is MethodSpec => s !== undefined);
    const primary = specs[0]!;
    const method = methodName(name);
    if (taken.has(method)) throw new Error(`${name} and ${taken.get(method)} would both be ${method}()`);
    taken.set(method, name);
    if (r) counts.redis++;
    if (v) counts.valkey++;
    const [command, sub] = name.split("|");
    const blocking = (primary.command_flags ?? []).includes("BLOCKING");
    const routed = blocking || STATEFUL.has(name);
    const reply = union(specs.map((s) => paren(replyType(s.reply_schema, false))));
    const replyBytes = union(specs.map((s) => paren(replyType(s.reply_schema, true))));
    const buffer = specs.some((s) => carriesValues(s.reply_schema));
    const params = parameters(specs, sub !== undefined);
    const servers = [
      r ? `Redis ${r.since}` : "",
      v ? `Valkey ${v.since}` : "",
    ].filter((x) => x).join(", ");
    const wire = sub ? `${command!.toUpperCase()} ${sub.toUpperCase()}` : command!.toUpperCase();
    const doc = [
      `  /**`,
      `   * ${comment(primary.summary)} (${wire})`,
      `   *`,
      `   * Since ${servers}${r && v ? "" : r ? " (Redis only)" : " (Valkey only)"}.`,
      ...(primary.complexity ? [`   * Complexity: ${comment(primary.complexity)}`] : []),
      ...(primary.deprecated_since
        ? [
          `   * @deprecated since ${primary.deprecated_since}${
            primary.replaced_by ? `: ${comment(primary.replaced_by)}` : ""
          }`,
        ]
        : []),
      `   */`,
    ];
    const own = !handWritten.has(method);
    if (own) {
      members.push(...doc, `  ${method}(${params}): Out<K, S, ${reply}>;`);
      counts.methods++;
    }
    const bufferOwn = buffer && !handWritten.has(`${method}Buffer`);
    if (bufferOwn) {
      members.push(
        `  /** As {@linkcode ${method}}, with bulk strings as \`Uint8Array\` (binary-safe). */`,
        `  ${method}Buffer(${params}): Out<K, S, ${replyBytes}>;`,
      );
      counts.buffers++;
    }
    if (own || bufferOwn) {
      const flags = (own ? "" : "h") + (bufferOwn ? "b" : "") + (routed ? "r" : "");
      list.push([method, command!.toUpperCase(), sub ? sub.toUpperCase() : "", flags].join(" "));
    }
  }
  const types = [
    header,
    "/**",
    ` * A typed method for every command and subcommand of Redis ${redis.version} and Valkey ${valkey.version}, as the`,
    " * servers' command specs declare them: arguments in wire order (each tuple of `args` is one way to call it),",
    " * replies as the decoder delivers them under RESP2 or RESP3. Types only: src/commands.ts merges this interface",
    " * into `Commands` and attaches the methods listed in src/command_lists.ts to its prototype. The",
    " * hand-written methods of src/commands.ts are not repeated here: theirs win.",
    " *",
    " * @module",
    " */",
    'import type { Double, RespMap } from "./replies.ts";',
    'import type { Arg, Reply } from "./types.ts";',
    'import type { Kind, Out, Queue } from "./commands.ts";',
    "",
    "/** The generated methods of every executor; `K` and `S` are as in `Commands`. */",
    "export interface CommandMethods<K extends Kind, S extends Queue> {",
    ...members,
    "}",
    "",
  ].join("\n");
  return { types, list: list.join(";"), counts, skipped };
}
