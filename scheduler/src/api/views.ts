// Store rows and cluster state -> the API bodies of @drover/protocol's api.ts.
import type { ApiHistoryEntry, ApiHost, ApiMigration, ApiPowerAction, ApiVm, MigrationProgress } from "@drover/protocol";
import { planStatusShown, type HistoryEntry, type MigrationRow, type PowerRow } from "@drover/store";
import type { ClusterState, HostEntry, VmEntry } from "../cluster-state.js";
import type { SchedulerConfig } from "../config.js";
import { mergeRules, vmRuleEntries } from "../rules/merge.js";

export function hostView(state: ClusterState, config: SchedulerConfig, h: HostEntry, nowMs: number, maintenanceId: string | null): ApiHost {
  const r = h.report;
  const cap = r?.capacity ?? h.knownCapacity;
  const wake = new Set<string>();
  const cfg = config.hosts[h.id]?.power;
  if (cfg && cfg.wake !== "none") wake.add(cfg.wake);
  for (const w of r?.power.wake ?? []) wake.add(w.method);
  return {
    id: h.id,
    state: state.stateOf(h, nowMs),
    // Until a host reports to this scheduler, when the one before the restart last heard from it.
    lastReportMs: h.lastReportMs ?? h.heardBeforeStartMs,
    lastSeenMs: h.lastSeenMs ?? h.heardBeforeStartMs,
    cpus: cap?.cpus ?? 0,
    mhz: cap?.mhz ?? 0,
    memoryMiB: cap?.memoryMiB ?? 0,
    cpuFraction: r?.usage.cpuFraction ?? 0,
    memoryUsedMiB: r?.usage.memoryUsedMiB ?? 0,
    vmCount: state.vmsOn(h.id).length,
    libvirtReachable: h.libvirtOk,
    migrationUri: r?.migrationUri ?? null,
    canPowerOff: (r?.power.canPowerOff ?? false) && (cfg?.allowPowerOff ?? false) && (cfg?.wake ?? "none") !== "none",
    wakeMethods: [...wake],
    maintenanceId,
    wakeFailed: h.wakeFailed,
  };
}

/** Every VM with its effective rules: the rules are merged once over all VMs, as planning does. */
export function vmsView(state: ClusterState, config: Pick<SchedulerConfig, "rules">): ApiVm[] {
  const all = [...state.allVms()].sort((a, b) => a.report.name.localeCompare(b.report.name));
  const merged = mergeRules(all, config.rules);
  const conflicts = new Map<string, string[]>();
  for (const c of merged.conflicts) for (const v of c.vms) conflicts.set(v, [...(conflicts.get(v) ?? []), c.message]);
  return all.map((v) => ({
    ...vmView(state, v),
    rules: vmRuleEntries(v, config.rules, merged),
    ruleProblems: [...(v.report.rulesProblem ? [v.report.rulesProblem] : []), ...(conflicts.get(v.uuid) ?? [])],
  }));
}

function vmView(state: ClusterState, v: VmEntry): Omit<ApiVm, "rules" | "ruleProblems"> {
  const r = v.report;
  return {
    uuid: v.uuid,
    name: r.name,
    host: v.host,
    state: r.state,
    vcpus: r.vcpus,
    memoryMiB: r.memoryMiB,
    cpuUsedVcpus: r.cpuUsedVcpus,
    memoryUsedMiB: r.memoryUsedMiB,
    tags: r.tags,
    migrating: r.migrating,
    alsoOn: state.alsoOn(v.uuid),
  };
}

const migrationState = {
  pending: "queued",
  preflight: "preflight",
  dispatched: "running",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  aborted: "aborted",
  "timed-out": "timed-out",
  cancelled: "cancelled",
} as const;

export function migrationView(m: MigrationRow, progress: MigrationProgress | null, vmRunningOn: string | null): ApiMigration {
  return {
    id: m.id,
    vm: m.vmName,
    vmUuid: m.vmUuid,
    source: m.source,
    destination: m.destination,
    destinationCluster: m.destinationCluster,
    state: migrationState[m.status],
    requestedBy: m.requestedBy,
    reason: m.reason,
    planId: m.planId,
    commandId: m.commandId,
    createdAtMs: m.createdMs,
    startedAtMs: m.startedMs,
    endedAtMs: m.endedMs,
    predictedDurationMs: m.predictedDurationMs,
    predictedDowntimeMs: m.predictedDowntimeMs,
    measuredDurationMs: m.measuredDurationMs,
    measuredDowntimeMs: m.measuredDowntimeMs,
    strategy: m.strategy,
    completedBy: m.completedBy,
    progress: progress
      ? {
          timeMs: progress.timeMs,
          elapsedMs: progress.elapsedMs,
          phase: progress.phase,
          dataTotalBytes: progress.dataTotalBytes,
          dataProcessedBytes: progress.dataProcessedBytes,
          dataRemainingBytes: progress.dataRemainingBytes,
          fraction: progress.dataTotalBytes > 0 ? Math.min(1, progress.dataProcessedBytes / progress.dataTotalBytes) : 0,
          iteration: progress.iteration,
          escalations: progress.escalations,
        }
      : null,
    vmRunningOn,
    error: m.error ? { code: m.error.code, message: m.error.message } : null,
  };
}

export function powerView(p: PowerRow): ApiPowerAction {
  const refused = p.status === "cancelled" && (p.error?.code ?? "").startsWith("refused");
  return {
    id: p.id,
    host: p.host,
    action: p.action === "wake" ? "on" : "off",
    method: p.method,
    state: refused ? "refused" : p.status === "requested" || p.status === "sent" ? "pending" : p.status === "succeeded" ? "done" : "failed",
    requestedBy: p.requestedBy,
    reason: p.reason,
    requestedAtMs: p.createdMs,
    endedAtMs: p.status === "requested" || p.status === "sent" ? null : p.updatedMs,
    error: p.error ? { code: p.error.code, message: p.error.message } : null,
  };
}

export function historyView(e: HistoryEntry): ApiHistoryEntry {
  switch (e.kind) {
    case "migration":
      return {
        timeMs: e.atMs,
        kind: "migration",
        id: e.id,
        summary: e.summary,
        host: e.row.source,
        vm: e.row.vmName,
        outcome: e.row.status,
        requestedBy: e.row.requestedBy,
      };
    case "plan":
      return {
        timeMs: e.atMs,
        kind: "plan",
        id: e.id,
        summary: e.summary,
        host: null,
        vm: null,
        outcome: planStatusShown(e.row),
        requestedBy: e.row.requestedBy,
      };
    case "maintenance":
      return {
        timeMs: e.atMs,
        kind: "maintenance",
        id: e.id,
        summary: e.summary,
        host: e.row.host,
        vm: null,
        outcome: e.row.status,
        requestedBy: e.row.requestedBy,
      };
    case "power":
      return {
        timeMs: e.atMs,
        kind: "power",
        id: e.id,
        summary: e.summary,
        host: e.row.host,
        vm: null,
        outcome: e.row.status,
        requestedBy: e.row.requestedBy,
      };
    case "config":
      return { timeMs: e.atMs, kind: "config", id: e.id, summary: e.summary, host: null, vm: null, outcome: null, requestedBy: e.row.who };
    case "command":
      return {
        timeMs: e.atMs,
        kind: "command",
        id: e.id,
        summary: e.summary,
        host: e.row.host,
        vm: e.row.vm,
        outcome: e.row.outcome,
        requestedBy: e.row.issuedBy,
      };
    case "host":
      return {
        timeMs: e.atMs,
        kind: "host",
        id: e.id,
        summary: e.summary,
        host: e.row.host,
        vm: null,
        outcome: e.row.event === "state" ? e.row.toState : e.row.event,
        requestedBy: null,
      };
    case "webhook":
      return { timeMs: e.atMs, kind: "webhook", id: e.id, summary: e.summary, host: null, vm: null, outcome: "failed", requestedBy: null };
  }
}
