// The CloudSim 3.0 quirks (Q1..Q12 of data/cloudsim-semantics.md) as switches. The
// engine and the baselines read only these flags: "compat" turns on every quirk that decides
// the reference numbers, "clean" is the same code with them off.

export interface Quirks {
  /** Q1: a VM whose request is exactly 0 (two zero samples in a row) is removed for good. */
  readonly q1RemoveIdleVms: boolean;
  /** Q2: VM RAM (and BW) is requested only at creation; afterwards only CPU constrains packing. */
  readonly q2RamOnlyAtCreation: boolean;
  /** Q3: PABFD scores and "non-empty host" tests use the start-of-round utilisation snapshot. */
  readonly q3StaleUtilisation: boolean;
  /** Q4: a migration target counts the full demand of a migrating-in VM against 10% allocated. */
  readonly q4TargetSlaArtefact: boolean;
  /** Q5: SLATAH and PDM are ratios of sums (CloudSim's Helper), not means of ratios (paper). */
  readonly q5RatioOfSums: boolean;
  /**
   * Q6: energy window: the first interval [0, 300.1] is free, rounds sit at 300k + 0.1, the day
   * ends at 86,100.1 s (plus the last round's migrations); a host at utilisation 0 at the start
   * of an interval costs 0 even if it holds VMs. Off: rounds at 300k, a host holding a VM draws
   * power, and the full 86,400 s are charged.
   */
  readonly q6EnergyWindow: boolean;
  /** Q7: switching a host on scores as free in PABFD (P(u_after) - P(0) for an off host). */
  readonly q7FreeWake: boolean;
  /** Q8: overload-migration targets may be emptied again by the underload step (double moves). */
  readonly q8DoubleMigration: boolean;
  /** Q9: VM-trace pairing follows the byte-wise sorted file list (always on: it is the reference order). */
  readonly q9SortedFiles: true;
  /** Q10: LR weighting, tricube^2 WLS (3.0) or OLS (3.0.3+). */
  readonly q10LrWeighting: "tricube2" | "ols";
  /** Q11: LR/MAD/IQR see the synthetic history of the host's current VM set. Kept in both modes. */
  readonly q11SyntheticHostHistory: true;
  /** Q12: a one-vCPU VM cannot use more than one physical PE (2500-MIPS VM on a G4 gets 1860). Physical: kept. */
  readonly q12PeCap: true;
  /** Initial placement at t=0 uses the VMs' full MIPS (CloudSim's "being instantiated"). */
  readonly fullMipsAtCreation: boolean;
}

export const Mode = { compat: "compat", clean: "clean", cleanRam: "clean+ram" } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];
export const modes: readonly Mode[] = [Mode.compat, Mode.clean, Mode.cleanRam];

const compat: Quirks = {
  q1RemoveIdleVms: true,
  q2RamOnlyAtCreation: true,
  q3StaleUtilisation: true,
  q4TargetSlaArtefact: true,
  q5RatioOfSums: true,
  q6EnergyWindow: true,
  q7FreeWake: true,
  q8DoubleMigration: true,
  q9SortedFiles: true,
  q10LrWeighting: "tricube2",
  q11SyntheticHostHistory: true,
  q12PeCap: true,
  fullMipsAtCreation: true,
};

const clean: Quirks = {
  ...compat,
  q1RemoveIdleVms: false,
  q3StaleUtilisation: false,
  q4TargetSlaArtefact: false,
  q5RatioOfSums: false,
  q6EnergyWindow: false,
  q7FreeWake: false,
  q8DoubleMigration: false,
  fullMipsAtCreation: false,
};

export function quirksFor(mode: Mode): Quirks {
  switch (mode) {
    case "compat":
      return compat;
    case "clean":
      return clean;
    case "clean+ram":
      return { ...clean, q2RamOnlyAtCreation: false };
  }
}

/** Whether RAM binds after creation and a woken host boots before it accepts VMs. */
export function enforcesRam(mode: Mode): boolean {
  return mode === "clean+ram";
}
