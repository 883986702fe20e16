/**
 * The README's TypeScript examples type-check against the library as it is:
 * every ```ts block becomes a module (the names the prose assumes — `r`, a
 * client; `pool`; `keys` — declared where the block does not define them)
 * and `deno check` runs over all of them at once. No server.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness/shim.ts";
import { check, DENO, ROOT, run } from "../package/tools.ts";

/** The blocks fenced as ```ts, with the line each starts on. */
export function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue;
    const start = i + 1;
    while (++i < lines.length && lines[i]!.trim() !== "```");
    blocks.push({ line: start + 1, code: lines.slice(start, i).join("\n") });
  }
  return blocks;
}

/** A block as a module: the package imported from this checkout, the assumed names declared unless it defines them. */
function asModule(code: string): string {
  // `jsr:@x/cpipe` is mod.ts; its other entries (`/cluster`, `/sentinel`) are the root modules of those names.
  const body = code.replace(
    /"jsr:@x\/cpipe(?:\/(\w+))?"/g,
    (_, entry: string | undefined) => JSON.stringify(`${ROOT}/${entry ?? "mod"}.ts`),
  );
  const prelude: string[] = [];
  if (!/import \* as cpipe\b/.test(body)) prelude.push(`import * as cpipe from ${JSON.stringify(`${ROOT}/mod.ts`)};`);
  const assumed: [string, string][] = [
    ["r", "cpipe.Client"],
    ["pool", "cpipe.Pool"],
    ["keys", "string[]"],
    ["host", "string"],
    ["port", "number"],
  ];
  for (const [name, type] of assumed) {
    if (!new RegExp(`(const|let) ${name}\\b`).test(body)) prelude.push(`declare let ${name}: ${type};`);
  }
  return `${prelude.join("\n")}\n${body}\nexport {};\n`;
}

test("README.md: every ts example type-checks", async () => {
  const blocks = tsBlocks(readFileSync(`${ROOT}/README.md`, "utf8"));
  assert.ok(blocks.length >= 4, `found ${blocks.length} ts blocks`);
  const dir = mkdtempSync(join(tmpdir(), "cpipe-readme-"));
  try {
    const files = blocks.map((b) => {
      const file = join(dir, `readme_line_${b.line}.ts`);
      writeFileSync(file, asModule(b.code));
      return file;
    });
    check("deno check of README.md's examples", await run(DENO, ["check", "-q", ...files], { timeoutMs: 120_000 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
