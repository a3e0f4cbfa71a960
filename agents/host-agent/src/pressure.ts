import { readFile } from "node:fs/promises";

export interface Pressure {
  cpuSome10: number | null;
  memorySome10: number | null;
  memoryFull10: number | null;
  ioSome10: number | null;
}

/** `some avg10=1.23 avg60=... total=...` -> { some: 1.23, full: ... } */
export function parsePressure(text: string): { some: number | null; full: number | null } {
  const out: { some: number | null; full: number | null } = { some: null, full: null };
  for (const line of text.split("\n")) {
    const m = /^(some|full)\s.*\bavg10=([0-9.]+)/.exec(line.trim());
    if (m) out[m[1] as "some" | "full"] = Number(m[2]);
  }
  return out;
}

async function one(file: string): Promise<{ some: number | null; full: number | null } | null> {
  try {
    return parsePressure(await readFile(file, "utf8"));
  } catch {
    return null;
  }
}

/** /proc/pressure averages over 10 s (percent); null when the kernel has no PSI. */
export async function readPressure(dir = "/proc/pressure"): Promise<Pressure | null> {
  const [cpu, mem, io] = await Promise.all([one(`${dir}/cpu`), one(`${dir}/memory`), one(`${dir}/io`)]);
  if (!cpu && !mem && !io) return null;
  return { cpuSome10: cpu?.some ?? null, memorySome10: mem?.some ?? null, memoryFull10: mem?.full ?? null, ioSome10: io?.some ?? null };
}
