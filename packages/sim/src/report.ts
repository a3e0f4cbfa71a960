// Rows of simulation outcomes and their cells as text (the bench and the CLI print them as
// tables). The JSON shape is documented in README.md.
import type { BoundResult } from "./bounds.js";
import type { SimulationResult } from "./simulate.js";

export interface OutcomeRow {
  readonly policy: string;
  readonly energyKwh: number;
  /** energy / oracle energy (null when there is no oracle). */
  readonly ratioToOracle: number | null;
  readonly slatah: number | null;
  readonly pdm: number | null;
  readonly slav: number | null;
  readonly esv: number | null;
  readonly migrations: number | null;
  readonly unserved: number | null;
  readonly activeHostsMean: number;
  readonly decisionMsMean: number | null;
  readonly decisionMsMax: number | null;
  readonly note?: string;
}

export function resultRow(r: SimulationResult, oracleKwh: number | null): OutcomeRow {
  return {
    policy: r.policy,
    energyKwh: r.energyKwh,
    ratioToOracle: oracleKwh ? r.energyKwh / oracleKwh : null,
    slatah: r.slatah,
    pdm: r.pdm,
    slav: r.slav,
    esv: r.esv,
    migrations: r.migrations,
    unserved: r.unserved,
    activeHostsMean: r.activeHostsMean,
    decisionMsMean: r.policy === "npa" || r.policy === "dvfs" ? null : r.decisionMsMean,
    decisionMsMax: r.policy === "npa" || r.policy === "dvfs" ? null : r.decisionMsMax,
  };
}

export function boundRow(name: string, b: BoundResult, oracleKwh: number | null): OutcomeRow {
  return {
    policy: name,
    energyKwh: b.energyKwh,
    ratioToOracle: oracleKwh ? b.energyKwh / oracleKwh : null,
    slatah: null,
    pdm: null,
    slav: null,
    esv: null,
    migrations: null,
    unserved: null,
    activeHostsMean: b.activeHostsMean,
    decisionMsMean: null,
    decisionMsMax: null,
  };
}

export const outcomeColumns = [
  "policy",
  "energy kWh",
  "/oracle",
  "SLATAH %",
  "PDM %",
  "SLAV %",
  "ESV",
  "migrations",
  "unserved %",
  "hosts",
  "ms/round",
] as const;

const pct = (x: number | null, d: number) => (x === null ? "-" : (x * 100).toFixed(d));

export function rowCells(r: OutcomeRow): string[] {
  return [
    r.policy + (r.note ? ` (${r.note})` : ""),
    Number.isNaN(r.energyKwh) ? "-" : r.energyKwh.toFixed(2),
    r.ratioToOracle === null ? "-" : r.ratioToOracle.toFixed(3),
    pct(r.slatah, 2),
    pct(r.pdm, 3),
    pct(r.slav, 5),
    r.esv === null ? "-" : r.esv.toExponential(2),
    r.migrations === null ? "-" : String(r.migrations),
    pct(r.unserved, 3),
    Number.isNaN(r.activeHostsMean) ? "-" : r.activeHostsMean.toFixed(1),
    r.decisionMsMean === null ? "-" : r.decisionMsMean.toFixed(2),
  ];
}
