// Host and VM types of the CloudSim power-package reference setup, and the SPECpower tables.
// getPower copies PowerModelSpecPower.getPower operation for operation: the compat energy
// numbers must come out bit-identical, so the arithmetic order matters.

export interface PowerModel {
  readonly name: string;
  /** Watts at 0%, 10%, ..., 100% CPU. */
  readonly table: readonly number[];
}

export const hpMl110G4: PowerModel = {
  name: "HP ML110 G4 (Xeon 3040)",
  table: [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117],
};

export const hpMl110G5: PowerModel = {
  name: "HP ML110 G5 (Xeon 3075)",
  table: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135],
};

/** Power in watts at utilisation u in [0, 1]; NaN outside (CloudSim throws there). */
export function powerAt(model: PowerModel, u: number): number {
  if (!(u >= 0 && u <= 1)) return Number.NaN;
  const t = model.table;
  if (u % 0.1 === 0) return t[Math.trunc(u * 10)] as number;
  const u1 = Math.floor(u * 10);
  const u2 = Math.ceil(u * 10);
  const p1 = t[u1] as number;
  const p2 = t[u2] as number;
  const delta = (p2 - p1) / 10;
  return p1 + delta * (u - u1 / 10) * 100;
}

export interface HostType {
  readonly name: string;
  readonly peMips: number;
  readonly pes: number;
  readonly ramMb: number;
  /** kbit/s, as CloudSim's HOST_BW. */
  readonly bwKbps: number;
  readonly power: PowerModel;
}

export interface VmType {
  readonly mips: number;
  readonly ramMb: number;
  readonly bwKbps: number;
}

/** The reference's two host types; host i has type i % 2. */
export const referenceHostTypes: readonly HostType[] = [
  { name: "G4", peMips: 1860, pes: 2, ramMb: 4096, bwKbps: 1_000_000, power: hpMl110G4 },
  { name: "G5", peMips: 2660, pes: 2, ramMb: 4096, bwKbps: 1_000_000, power: hpMl110G5 },
];

/** The reference's four VM types, assigned by blocks of ceil(N/4) over the sorted file list. */
export const referenceVmTypes: readonly VmType[] = [
  { mips: 2500, ramMb: 870, bwKbps: 100_000 },
  { mips: 2000, ramMb: 1740, bwKbps: 100_000 },
  { mips: 1000, ramMb: 1740, bwKbps: 100_000 },
  { mips: 500, ramMb: 613, bwKbps: 100_000 },
];

/** VM type index of VM i among n (CloudSim: i / ceil(n / 4), integer division). */
export function referenceVmTypeIndex(i: number, n: number): number {
  return Math.floor(i / Math.ceil(n / referenceVmTypes.length));
}

/**
 * Migration time of a VM: RAM over half the link (CloudSim: ram / (bw / (2 * 8000))), i.e.
 * RAM_MB / 62.5 s on 1 Gbit/s.
 */
export function migrationSeconds(ramMb: number, linkKbps: number): number {
  return ramMb / (linkKbps / (2 * 8000));
}

/** The most efficient watts per MIPS of a host type (at 100%, since P(u)/u falls with u). */
export function wattsPerMipsAtFull(t: HostType): number {
  return (t.power.table[10] as number) / (t.peMips * t.pes);
}
