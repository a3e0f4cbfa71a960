// Drain (maintenance): move every VM off the named hosts (default: hosts in state draining or
// maintenance), most constrained first, biggest first, each to the destination that stays least
// loaded. When no direct destination exists, try one parking move: move a VM off a candidate
// host to make room (capacity or anti-affinity), then move in. Every VM that cannot leave gets a
// reason that counts why each destination was refused.

import { z } from "zod";
import { NotMovedCode, StepCode } from "../codes.js";
import { PolicyInputError } from "../errors.js";
import type { ClusterModel } from "../model.js";
import type { PlanBuilder } from "../plan-builder.js";
import type { Policy } from "../policy.js";

export const drainArgs = z
  .object({
    /** Hosts to empty; default: every host in state draining or maintenance. */
    hostIds: z.array(z.string().min(1)).optional(),
    allowParking: z.boolean().default(true),
    /** Candidate hosts tried for a parking move per VM. */
    parkingCandidates: z.number().int().min(0).max(1000).default(16),
  })
  .strict();

const PARK_VMS_PER_HOST = 8;

function placementScore(m: ClusterModel, unit: readonly number[], h: number): number {
  let cpu = 0;
  let mem = 0;
  for (const v of unit) {
    cpu += m.vmCpu[v] ?? 0;
    mem += m.vmMemUse[v] ?? 0;
  }
  const host = m.hosts[h];
  if (host === undefined) return Infinity;
  const cu = ((m.cpuLoad[h] ?? 0) + cpu) / host.cpuCapacityMhz;
  const mu = ((m.memUse[h] ?? 0) + mem) / host.memoryMiB;
  return Math.max(cu, mu) + m.softPenalty(unit, h);
}

/**
 * Best direct destination, or null; counts refusals per code into `why`. `forced` for the VMs the
 * operator asked to move (a return cool-down does not hold them), not for the VMs parked for them.
 */
function bestDestination(
  m: ClusterModel,
  unit: readonly number[],
  why: Map<string, number> | null,
  b: PlanBuilder | null,
  forced = true,
): number | null {
  let best: number | null = null;
  let bestScore = Infinity;
  const opts = { forced };
  for (let h = 0; h < m.hosts.length; h++) {
    const r = m.check(unit, h, opts);
    if (r !== null) {
      if (why !== null && r.code !== "placement.host-excluded" && r.code !== "placement.same-host")
        why.set(r.code, (why.get(r.code) ?? 0) + 1);
      if (b !== null && r.ruleId !== undefined) b.block(r.ruleId, r.code, unit[0] as number, h);
      continue;
    }
    if (m.unitCost(unit, m.vmHost[unit[0] as number] as number, h) === null) continue;
    const s = placementScore(m, unit, h);
    if (s < bestScore) {
      bestScore = s;
      best = h;
    }
  }
  return best;
}

function tryParking(m: ClusterModel, unit: readonly number[], b: PlanBuilder, candidates: number): boolean {
  const src = m.vmHost[unit[0] as number] as number;
  // Hosts refused only for capacity or anti-affinity, least loaded first.
  const hosts: number[] = [];
  for (let h = 0; h < m.hosts.length; h++) {
    const r = m.check(unit, h, { forced: true });
    if (r !== null && (r.code.startsWith("capacity.") || r.code === "rule.anti-affinity")) hosts.push(h);
  }
  hosts.sort((a, c) => m.cpuUtil(a) - m.cpuUtil(c) || a - c);
  for (const d of hosts.slice(0, candidates)) {
    const onD = [...(m.hostVms[d] ?? [])].sort((a, c) => (m.vmCpu[a] ?? 0) - (m.vmCpu[c] ?? 0) || a - c);
    for (const c of onD.slice(0, PARK_VMS_PER_HOST)) {
      const u = m.unitOf(c);
      if (!("unit" in u)) continue;
      const p = bestDestination(m, u.unit, null, null, false);
      if (p === null || p === src) continue;
      m.move(u.unit, p);
      const ok = m.check(unit, d, { forced: true }) === null && m.unitCost(unit, src, d) !== null;
      m.unmove(u.unit, d);
      if (!ok) continue;
      const names = unit.map((v) => m.vmId(v)).join(", ");
      // One group: the limits admit the parking move only with the move it makes room for.
      const group = `parking:${names}`;
      const parked = b.migrate(
        u.unit,
        p,
        StepCode.drainPark,
        `make room on ${m.hostId(d)} for ${names} (draining ${m.hostId(src)})`,
        [],
        group,
      );
      b.migrate(
        unit,
        d,
        StepCode.drainMove,
        `evacuate ${m.hostId(src)} (after parking ${u.unit.map((v) => m.vmId(v)).join(", ")})`,
        parked,
        group,
      );
      return true;
    }
  }
  return false;
}

export const drainPolicy: Policy<typeof drainArgs> = {
  name: "drain",
  description: "empty hosts for maintenance, honouring rules and capacity",
  args: drainArgs,
  run(m, args, b) {
    let targets: number[];
    if (args.hostIds !== undefined) {
      targets = args.hostIds.map((id, i) => {
        const h = m.hostIndex.get(id);
        if (h === undefined) throw new PolicyInputError(`args.hostIds.${i}`, `unknown host "${id}"`);
        return h;
      });
    } else {
      targets = [];
      for (let h = 0; h < m.hosts.length; h++) if (m.state(h) === "draining" || m.state(h) === "maintenance") targets.push(h);
    }
    // Nothing goes onto a host being drained.
    for (const h of targets) m.destOk[h] = 0;

    const units: number[][] = [];
    for (const h of targets) {
      const seen = new Set<number>();
      for (const v of [...(m.hostVms[h] ?? [])]) {
        if (seen.has(v)) continue;
        if (m.state(h) === "unreachable") {
          b.note(
            v,
            NotMovedCode.sourceExcluded,
            `host ${m.hostId(h)} is unreachable: it cannot be a migration source until it reports again`,
          );
          continue;
        }
        const u = m.unitOf(v, true);
        if (!("unit" in u)) {
          b.note(
            v,
            u.reject,
            u.reject === NotMovedCode.pinned
              ? `VM is pinned to ${m.hostId(h)}; unpin it to drain the host`
              : `VM cannot move now (${u.reject})`,
          );
          continue;
        }
        for (const x of u.unit) seen.add(x);
        units.push(u.unit);
      }
    }
    // Most constrained first (fewest feasible destinations), then biggest memory, then id.
    const feasible = new Map<number[], number>();
    for (const u of units) {
      let n = 0;
      for (let h = 0; h < m.hosts.length; h++) if (m.check(u, h, { forced: true }) === null) n++;
      feasible.set(u, n);
    }
    const mem = (u: number[]) => u.reduce((a, v) => a + (m.vmMem[v] ?? 0), 0);
    units.sort(
      (a, c) =>
        (feasible.get(a) ?? 0) - (feasible.get(c) ?? 0) || mem(c) - mem(a) || m.vmId(a[0] as number).localeCompare(m.vmId(c[0] as number)),
    );

    for (const unit of units) {
      const src = m.vmHost[unit[0] as number] as number;
      const why = new Map<string, number>();
      const d = bestDestination(m, unit, why, b);
      if (d !== null) {
        b.migrate(unit, d, StepCode.drainMove, `evacuate ${m.hostId(src)} for maintenance`);
        continue;
      }
      if (args.allowParking && tryParking(m, unit, b, args.parkingCandidates)) continue;
      const notConvergent = unit.some((v) => m.prediction(v, src, src) === null);
      const detail = [...why.entries()]
        .sort((a, c) => c[1] - a[1] || a[0].localeCompare(c[0]))
        .map(([code, n]) => `${n} host(s) ${code}`)
        .join(", ");
      for (const v of unit) {
        if (notConvergent)
          b.note(
            v,
            NotMovedCode.notConvergent,
            `no migration strategy completes for this VM (dirty rate too high for the bandwidth and downtime allowed)`,
          );
        else b.note(v, NotMovedCode.noDestination, `cannot leave ${m.hostId(src)}: ${detail === "" ? "no other healthy host" : detail}`);
      }
    }
  },
};
