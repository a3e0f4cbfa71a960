// Machine-readable codes for steps, "not moved" explanations, rule blocks and deferrals. The CLI
// prints the message; scripts and tests read the code. Codes are stable once published.

export const StepCode = {
  balanceImbalance: "balance.reduce-imbalance",
  balanceMisfit: "balance.move-misfit",
  consolidateEmpty: "consolidate.empty-host",
  consolidateRelieve: "consolidate.relieve-overload",
  consolidateMisfit: "consolidate.move-misfit",
  consolidatePowerOff: "consolidate.power-off",
  consolidateWake: "consolidate.wake-for-demand",
  consolidateWakeSpare: "consolidate.wake-for-spare",
  consolidateWakeMisfit: "consolidate.wake-for-misfit",
  drainMove: "drain.evacuate",
  drainPark: "drain.parking-move",
} as const;
export type StepCode = (typeof StepCode)[keyof typeof StepCode];

export const NotMovedCode = {
  pinned: "vm.pinned",
  inFlight: "vm.in-flight",
  cooldown: "vm.cooldown",
  notConvergent: "migration.not-convergent",
  noDestination: "placement.no-destination",
  insufficientBenefit: "balance.insufficient-benefit",
  moveCap: "limit.moves-per-round",
  hostMoveCap: "limit.moves-per-host",
  hostNotEmptied: "consolidate.host-not-emptied",
  withinBand: "consolidate.within-band",
  sourceExcluded: "host.excluded",
} as const;
export type NotMovedCode = (typeof NotMovedCode)[keyof typeof NotMovedCode];

/** Why one destination was refused for one VM (placement checks). */
export const RejectCode = {
  sameHost: "placement.same-host",
  hostExcluded: "placement.host-excluded",
  cpuCapacity: "capacity.cpu",
  memoryCapacity: "capacity.memory",
  vcpuCapacity: "capacity.vcpu",
  coreSpeed: "capacity.core-speed",
  cpuModel: "compat.cpu-model",
  olderHypervisor: "compat.older-hypervisor",
  storage: "compat.storage",
  bridge: "compat.bridge",
  antiAffinity: "rule.anti-affinity",
  affinity: "rule.affinity",
  vmHostMust: "rule.vm-host-must",
  vmHostMustNot: "rule.vm-host-must-not",
  failureCooldown: "vm.failure-cooldown",
  returnCooldown: "vm.return-cooldown",
  band: "consolidate.above-band",
} as const;
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];

/**
 * Why a host may not be powered off now (`powerOffBlockers`). The values are the codes the
 * scheduler's API returns when it refuses a power-off, so they read "refused.*".
 */
export const PowerOffBlockCode = {
  unknownHost: "refused.unknown-host",
  hostState: "refused.host-state",
  cannotPowerOff: "refused.cannot-power-off",
  vmsPresent: "refused.vms-present",
  migrationInFlight: "refused.migration-in-flight",
  lastHealthyHost: "refused.last-healthy-host",
  lastHostOfRule: "refused.last-host-of-rule",
  spareCapacity: "refused.spare-capacity",
  forecastDemand: "refused.forecast-demand",
} as const;
export type PowerOffBlockCode = (typeof PowerOffBlockCode)[keyof typeof PowerOffBlockCode];

export const DeferCode = {
  perSource: "limit.per-source",
  perDestination: "limit.per-destination",
  perCluster: "limit.per-cluster",
  dependency: "limit.dependency-deferred",
  /** A power-off the power-off rule refuses once the moves the limits defer are left out. */
  powerOffRule: "limit.power-off-rule",
  /**
   * A move its destination has no room for once the moves the limits defer are left out (with
   * forecasts of each host's summed window, a move onto a host can lower its forecast).
   */
  capacity: "limit.capacity",
} as const;
export type DeferCode = (typeof DeferCode)[keyof typeof DeferCode];
