// Workloads: PlanetLab-format trace directories (one VM per file, one integer % CPU per line,
// 300 s apart), the PlanetLab days packed in this package (data/, see its README) and a plain
// CSV of per-VM CPU series for users. A workload holds utilisation fractions with CloudSim's
// extra last sample (a copy of the previous one) so that linear interpolation is defined up to
// the end of the day.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliDecompressSync } from "node:zlib";
import { SimError, SimErrorCode } from "./errors.js";

export interface Workload {
  /** VM names (file names, or CSV column names), in VM id order. */
  readonly names: readonly string[];
  /** Samples per VM including the appended copy of the last one (289 for PlanetLab). */
  readonly stride: number;
  /** Utilisation fractions, VM-major: vm i sample k at [i * stride + k]. */
  readonly data: Float64Array;
  /** Seconds between samples. */
  readonly intervalSeconds: number;
  readonly source: string;
}

export function workloadSize(w: Workload): number {
  return w.names.length;
}

/** Byte-wise order of file names (the reference sorts this way; Q9). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function parsePercent(line: string, where: string): number {
  const s = line.trim();
  if (!/^-?\d+(\.\d+)?$/.test(s)) {
    throw new SimError(SimErrorCode.badTraces, `${where}: "${s}" is not a CPU percentage`);
  }
  const v = Number(s);
  if (v < 0 || v > 100) throw new SimError(SimErrorCode.badTraces, `${where}: ${v}% is outside 0..100`);
  return v;
}

/** Per-VM CPU percentages as read, before they become a Workload. */
export interface PercentSeries {
  readonly names: readonly string[];
  readonly series: readonly (readonly number[])[];
}

/** Reads a PlanetLab day directory as percentages: every regular file is one VM, in byte-wise order. */
export function readPlanetLabDir(dir: string): PercentSeries {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (cause) {
    throw new SimError(SimErrorCode.badTraces, `cannot read trace directory ${dir}`, { cause });
  }
  const names = entries.filter((f) => !f.startsWith(".") && statSync(join(dir, f)).isFile()).sort(byteOrder);
  if (names.length === 0) throw new SimError(SimErrorCode.badTraces, `no trace files in ${dir}`);
  const series = names.map((f) => {
    const lines = readFileSync(join(dir, f), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "");
    return lines.map((l, i) => parsePercent(l, `${join(dir, f)} line ${i + 1}`));
  });
  return { names, series };
}

/** Reads a PlanetLab day: every regular file of dir is one VM. */
export function loadPlanetLabDir(dir: string, opts: { samples?: number } = {}): Workload {
  const { names, series } = readPlanetLabDir(dir);
  return fromSeries(names, series, { source: dir, ...opts });
}

/** The PlanetLab days packed in data/ (CloudSim 3.0's workload/planetlab; data/README.md). */
export const planetLabDays = ["20110303", "20110306", "20110309"] as const;
export type PlanetLabDay = (typeof planetLabDays)[number];

const packedDir = fileURLToPath(new URL("../data/", import.meta.url));

/** File of a packed day in data/. */
export function packedDayFile(day: PlanetLabDay): string {
  return join(packedDir, `planetlab-${day}.txt.br`);
}

/**
 * The packed text format (before brotli): one line per VM in the given order, its name, a tab,
 * then its CPU percentages separated by single spaces. Names never hold a tab or a newline.
 */
export function packSeries({ names, series }: PercentSeries): string {
  return names
    .map((name, i) => {
      if (/[\t\n\r]/.test(name)) throw new SimError(SimErrorCode.badTraces, `VM name ${JSON.stringify(name)} holds a tab or newline`);
      return `${name}\t${(series[i] ?? []).join(" ")}\n`;
    })
    .join("");
}

/** Reads the packed text format back; `where` names the source in errors. */
export function unpackSeries(text: string, where: string): PercentSeries {
  const names: string[] = [];
  const series: number[][] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    const tab = line.indexOf("\t");
    if (tab <= 0) throw new SimError(SimErrorCode.badTraces, `${where} line ${i + 1}: no "name<TAB>values"`);
    names.push(line.slice(0, tab));
    series.push(
      line
        .slice(tab + 1)
        .split(" ")
        .map((v, k) => parsePercent(v, `${where} line ${i + 1} value ${k + 1}`)),
    );
  });
  if (names.length === 0) throw new SimError(SimErrorCode.badTraces, `${where}: no VMs`);
  return { names, series };
}

/** Loads one of the PlanetLab days packed in this package (same numbers as its directory). */
export function loadPlanetLabDay(day: string, opts: { samples?: number } = {}): Workload {
  if (!(planetLabDays as readonly string[]).includes(day)) {
    throw new SimError(SimErrorCode.badTraces, `no packed PlanetLab day "${day}" (have ${planetLabDays.join(", ")})`);
  }
  const file = packedDayFile(day as PlanetLabDay);
  let text: string;
  try {
    text = brotliDecompressSync(readFileSync(file)).toString("utf8");
  } catch (cause) {
    throw new SimError(SimErrorCode.badTraces, `cannot read packed traces ${file}`, { cause });
  }
  const { names, series } = unpackSeries(text, file);
  return fromSeries(names, series, { source: `planetlab/${day}`, ...opts });
}

/**
 * Reads a CSV of per-VM CPU series: a header row of VM names, then one row per sample with a
 * percentage per VM. Samples are 300 s apart unless intervalSeconds says otherwise.
 */
export function loadCsv(path: string, opts: { intervalSeconds?: number; samples?: number } = {}): Workload {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new SimError(SimErrorCode.badTraces, `cannot read trace file ${path}`, { cause });
  }
  const rows = text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(","));
  const header = rows[0];
  if (!header || rows.length < 3) {
    throw new SimError(SimErrorCode.badTraces, `${path}: need a header row of VM names and at least 2 sample rows`);
  }
  const names = header.map((h) => h.trim());
  const series: number[][] = names.map(() => []);
  rows.slice(1).forEach((row, r) => {
    if (row.length !== names.length) {
      throw new SimError(SimErrorCode.badTraces, `${path} row ${r + 2}: ${row.length} values, header has ${names.length}`);
    }
    row.forEach((cell, c) => (series[c] as number[]).push(parsePercent(cell, `${path} row ${r + 2} column ${names[c]}`)));
  });
  return fromSeries(names, series, { source: path, ...opts });
}

/** Accepts a PlanetLab directory or a CSV file. */
export function loadTraces(path: string, opts: { samples?: number } = {}): Workload {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (cause) {
    throw new SimError(SimErrorCode.badTraces, `traces not found: ${path}`, { cause });
  }
  return isDir ? loadPlanetLabDir(path, opts) : loadCsv(path, opts);
}

export function fromSeries(
  names: readonly string[],
  series: readonly (readonly number[])[],
  opts: { source?: string; intervalSeconds?: number; samples?: number } = {},
): Workload {
  const lengths = new Set(series.map((s) => s.length));
  const n = opts.samples ?? series.reduce((m, s) => Math.min(m, s.length), Infinity);
  if (lengths.size > 1 && opts.samples === undefined) {
    throw new SimError(SimErrorCode.badTraces, `traces have different lengths (${[...lengths].join(", ")} samples)`);
  }
  if (!(n >= 2)) throw new SimError(SimErrorCode.badTraces, "each trace needs at least 2 samples");
  series.forEach((s, i) => {
    if (s.length < n) throw new SimError(SimErrorCode.badTraces, `${names[i]}: ${s.length} samples, need ${n}`);
  });
  const stride = n + 1;
  const data = new Float64Array(names.length * stride);
  series.forEach((s, i) => {
    // CloudSim: Integer.valueOf(line) / 100.0, then data[n] = data[n - 1].
    for (let k = 0; k < n; k++) data[i * stride + k] = (s[k] as number) / 100.0;
    data[i * stride + n] = data[i * stride + n - 1] as number;
  });
  return { names, stride, data, intervalSeconds: opts.intervalSeconds ?? 300, source: opts.source ?? "memory" };
}

/** Deterministic PRNG (mulberry32) for drawn workloads. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Draws n VM traces with replacement from a pool of real ones (seeded), so that scaling runs
 * keep the statistics of the real workload.
 */
export function drawWorkload(pool: readonly Workload[], n: number, seed: number): Workload {
  const rnd = mulberry32(seed);
  const first = pool[0];
  if (!first) throw new SimError(SimErrorCode.badTraces, "drawWorkload needs at least one workload");
  const stride = first.stride;
  const total = pool.reduce((s, w) => s + w.names.length, 0);
  const data = new Float64Array(n * stride);
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    let pick = Math.floor(rnd() * total);
    let w = first;
    for (const cand of pool) {
      if (pick < cand.names.length) {
        w = cand;
        break;
      }
      pick -= cand.names.length;
    }
    if (w.stride !== stride) throw new SimError(SimErrorCode.badTraces, "pooled workloads differ in length");
    data.set(w.data.subarray(pick * stride, (pick + 1) * stride), i * stride);
    names.push(`drawn-${String(i).padStart(6, "0")}`);
  }
  return { names, stride, data, intervalSeconds: first.intervalSeconds, source: `drawn(seed=${seed})` };
}
