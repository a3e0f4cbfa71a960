// Every query of the Grafana board (deploy/grafana/drover.json) names only metrics Drover exports:
// the scheduler's and the agent's registries are built here, with the process metrics both
// binaries add, so the list of names cannot drift from the code.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { collectDefaultMetrics, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { AgentMetrics } from "../../agents/host-agent/src/index.js";
import { Metrics } from "../../scheduler/src/metrics.js";

const BOARD = fileURLToPath(new URL("../../deploy/grafana/drover.json", import.meta.url));

/** PromQL words that are not metric names (keywords, modifiers, literals). */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "and",
  "or",
  "unless",
  "inf",
  "nan",
]);

/**
 * The metric names a PromQL expression selects. Throws on what is not a well-formed expression
 * (unbalanced brackets or quotes), so a broken query fails here rather than in Grafana.
 */
function metricNames(expr: string): string[] {
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  if (/["'`]/.test(rest.replace(/""/g, ""))) throw new Error(`unterminated string in: ${expr}`);
  const stack: string[] = [];
  for (const c of rest) {
    if ("([{".includes(c)) stack.push(c);
    else if (")]}".includes(c) && stack.pop() !== { ")": "(", "]": "[", "}": "{" }[c]) throw new Error(`unbalanced "${c}" in: ${expr}`);
  }
  if (stack.length) throw new Error(`unclosed "${stack.at(-1)}" in: ${expr}`);
  rest = rest
    // Grafana's template variables ($host, ${datasource}, $__rate_interval).
    .replace(/\$\{[^}]*\}|\$\w+/g, "")
    // Label matchers, ranges and subqueries, and the label lists of grouping and vector matching.
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  const names: string[] = [];
  for (const m of rest.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const after = rest.slice(m.index + m[0].length).trimStart();
    if (after.startsWith("(") || KEYWORDS.has(m[0].toLowerCase())) continue; // a function or an aggregation
    if (/\d$/.test(rest.slice(0, m.index)) || /^e\d/i.test(m[0])) continue; // the exponent of 1e3
    names.push(m[0]);
  }
  return names;
}

/** Every series name a registry serves (a histogram as _bucket, _sum and _count). */
async function seriesNames(registry: Registry): Promise<string[]> {
  const out: string[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    const t = m.type as unknown as string;
    if (t === "histogram") out.push(`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`);
    else if (t === "summary") out.push(m.name, `${m.name}_sum`, `${m.name}_count`);
    else out.push(m.name);
  }
  return out;
}

interface Query {
  where: string;
  expr: string;
}

/** Every PromQL text of the board: panels' targets (rows' panels too) and query variables. */
function queries(board: { panels?: unknown[]; templating?: { list?: unknown[] } }): Query[] {
  const out: Query[] = [];
  const walk = (panels: unknown[] = []) => {
    for (const p of panels as { title?: string; targets?: { expr?: string; refId?: string }[]; panels?: unknown[] }[]) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}" query ${t.refId}`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(board.panels);
  for (const v of (board.templating?.list ?? []) as { type: string; name: string; query?: string | { query?: string } }[]) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    // label_values(metric, label): the label is not a metric.
    if (q) out.push({ where: `variable $${v.name}`, expr: q.replace(/^label_values\(\s*(.*?)\s*,\s*\w+\s*\)$/, "$1") });
  }
  return out;
}

describe("the Grafana board", () => {
  it("reads metric names out of PromQL: selectors only, not functions, labels, variables or keywords", () => {
    expect(
      metricNames(
        'histogram_quantile(0.9, sum by (le, call) (rate(drover_a_bucket{result="error", x=~"$host"}[$__rate_interval]))) / on (instance) group_left b:c',
      ),
    ).toEqual(["drover_a_bucket", "b:c"]);
    expect(metricNames("sum(x) without (host) > bool 1e3 and y offset 5m unless z")).toEqual(["x", "y", "z"]);
    expect(() => metricNames("sum(rate(x[5m])")).toThrow(/unclosed/);
    expect(() => metricNames('x{a="b}')).toThrow(/unterminated/);
  });

  it("names in every query only metrics the scheduler or the agent exports", async () => {
    const board = JSON.parse(readFileSync(BOARD, "utf8")) as Parameters<typeof queries>[0] & { schemaVersion: number };
    expect(board.schemaVersion).toBeGreaterThanOrEqual(36); // Grafana 10's dashboards
    const scheduler = new Metrics().registry;
    const agent = new AgentMetrics({ libvirtUp: () => true, natsConnected: () => true, migrationsRunning: () => 0 }).registry;
    const process = new Registry();
    collectDefaultMetrics({ register: process }); // what both binaries' main.ts add
    const known = new Set([...(await seriesNames(scheduler)), ...(await seriesNames(agent)), ...(await seriesNames(process))]);

    const qs = queries(board);
    expect(qs.length).toBeGreaterThan(30);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const q of qs) {
      let names: string[];
      try {
        names = metricNames(q.expr);
      } catch (e) {
        unknown.push(`${q.where}: ${(e as Error).message}`);
        continue;
      }
      if (names.length === 0) unknown.push(`${q.where}: selects no metric: ${q.expr}`);
      for (const n of names) {
        used.add(n);
        if (known.has(n)) continue;
        const stem = n.replace(/_(bucket|sum|count|total)$/, "");
        const near = [...known].filter((k) => k.startsWith(stem.split("_").slice(0, 3).join("_"))).slice(0, 6);
        unknown.push(
          `${q.where}: "${n}" is not exported${near.length ? ` (exported and alike: ${near.join(", ")})` : ""}\n    in: ${q.expr}`,
        );
      }
    }
    expect(unknown, `queries of deploy/grafana/drover.json that name what Drover does not export:\n${unknown.join("\n")}`).toEqual([]);
    // The board covers both parts: at least a few series of each.
    expect([...used].filter((n) => n.startsWith("drover_agent_")).length).toBeGreaterThan(4);
    expect([...used].filter((n) => n.startsWith("drover_") && !n.startsWith("drover_agent_")).length).toBeGreaterThan(15);
  });
});
