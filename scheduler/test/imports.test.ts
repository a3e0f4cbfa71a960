// The scheduler's files import each other in one direction only: a service depends on narrow
// interfaces of the ones built before it, the API on a port the scheduler fills. A cycle (even
// through `import type`) means two files each need the other to be understood.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative imports and re-exports of a file (static, type-only and dynamic), as absolute .ts paths. */
function localImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

/** One import cycle as a list of files (first repeated at the end), or null. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (f: string): string[] | null => {
    if (onPath.has(f)) return [...path.slice(path.indexOf(f)), f];
    if (done.has(f)) return null;
    path.push(f);
    onPath.add(f);
    for (const g of graph.get(f) ?? []) {
      const c = visit(g);
      if (c) return c;
    }
    path.pop();
    onPath.delete(f);
    done.add(f);
    return null;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return null;
}

describe("scheduler imports", () => {
  it("finds a cycle when there is one", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    expect(findCycle(g)).toEqual(["a", "b", "c", "a"]);
    expect(findCycle(new Map([["x", ["x"]]]))).toEqual(["x", "x"]);
    expect(
      findCycle(
        new Map([
          ["a", ["b"]],
          ["b", []],
          ["c", ["a", "b"]],
        ]),
      ),
    ).toBeNull();
  });

  it("reads relative imports, type-only ones and re-exports included", () => {
    const server = join(SRC, "api/server.ts");
    expect(localImports(server)).toContain(join(SRC, "api/views.ts"));
    expect(localImports(join(SRC, "index.ts"))).toContain(join(SRC, "scheduler.ts"));
  });

  it("has no import cycle in scheduler/src", () => {
    const graph = new Map(tsFiles(SRC).map((f) => [f, localImports(f)]));
    expect(graph.size).toBeGreaterThan(10);
    const cycle = findCycle(graph);
    expect(cycle?.map((f) => relative(SRC, f)) ?? null).toBeNull();
  });
});
