import Table from "cli-table3";

export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] }, chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" } });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 120_000) return `${(v / 1000).toFixed(1)} s`;
  return `${(v / 60_000).toFixed(1)} min`;
}

export function mib(v: number): string {
  return v >= 10240 ? `${(v / 1024).toFixed(1)} GiB` : `${Math.round(v)} MiB`;
}

export function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(0)}%`;
}

export function ago(nowMs: number, thenMs: number | null): string {
  return thenMs === null ? "never" : `${ms(Math.max(0, nowMs - thenMs))} ago`;
}

export function time(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
