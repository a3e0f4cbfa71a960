// Lab files run several at a time (vitest.config.ts says when): a lab owns its addresses, ports and namespaces by
// its `net`, so two files on one net would fight over them. Each lab file names its nets in one of
// the forms below, and no net belongs to two files.
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./helpers/drover-lab.js";

const NET_FORMS = [/\bnet: (\d+)/g, /\bNET = (\d+)/g, /"--net", "(\d+)"/g];

async function labFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await labFiles(p)));
    else if (e.name.endsWith(".lab.test.ts")) out.push(p);
  }
  return out;
}

describe("lab nets", () => {
  it("every lab file names a net, and no net belongs to two files", async () => {
    const owners = new Map<number, string[]>();
    const files = (await Promise.all(["packages", "agents", "scheduler", "cli", "test"].map((d) => labFiles(join(REPO_ROOT, d))))).flat();
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const text = await readFile(f, "utf8");
      const nets = new Set(NET_FORMS.flatMap((re) => [...text.matchAll(re)].map((m) => Number(m[1]))));
      const name = relative(REPO_ROOT, f);
      expect(nets.size, `${name} names no lab net (net: N, NET = N or "--net", "N")`).toBeGreaterThan(0);
      for (const n of nets) owners.set(n, [...(owners.get(n) ?? []), name]);
    }
    const shared = [...owners].filter(([, fs]) => fs.length > 1).map(([n, fs]) => `net ${n}: ${fs.join(", ")}`);
    expect(shared).toEqual([]);
  });
});
