// VMs their own host cannot run as they need (`ClusterModel.misfit`: a CPU model it lacks, or cores
// slower than the VM's demand per vCPU): placed before the requirement was stated, or grown past the
// host's cores, so the VM is starved whatever the host's load. Every policy that moves VMs for load
// moves these first, each to a destination of its own choosing.

import { NotMovedCode, RejectCode } from "../codes.js";
import type { ClusterModel } from "../model.js";
import type { PlanBuilder } from "../plan-builder.js";

/** What a misfit's reject code says its host lacks. */
const LACKS: Readonly<Record<string, string>> = {
  [RejectCode.cpuModel]: "the CPU model it needs",
  [RejectCode.coreSpeed]: "cores fast enough for its forecast demand per vCPU",
};

/** The note on a misfit no host can take. */
export const noHostFor = (why: string): string => `${why}, and no host that has it can take it`;

/**
 * Calls `move` for each movable unit on a healthy host that holds a misfit, with the reason (for
 * the step's message); `move` returns whether it planned the move. Notes the VMs that cannot move
 * now, and those `move` found no host for. At most `maxMoves` VMs move. Returns how many did.
 */
export function moveMisfits(
  m: ClusterModel,
  b: PlanBuilder,
  maxMoves: number,
  move: (unit: readonly number[], src: number, why: string) => boolean,
): number {
  // One pass over the VMs, and nothing allocated unless a misfit is found: this runs in every plan.
  let found: { v: number; code: string }[] | undefined;
  for (let h = 0; h < m.hosts.length; h++) {
    if (m.destOk[h] !== 1) continue;
    const vms = m.hostVms[h] as number[];
    for (let k = 0; k < vms.length; k++) {
      const v = vms[k] as number;
      const code = m.misfit(v);
      if (code !== null) (found ??= []).push({ v, code });
    }
  }
  let moved = 0;
  for (const { v, code } of found ?? []) {
    const h = m.vmHost[v] as number;
    if (m.vmMoved[v] === 1) continue; // left with a hard-affinity partner
    const why = `${m.hostId(h)} lacks ${LACKS[code] ?? code}`;
    const u = m.unitOf(v);
    if (!("unit" in u)) {
      b.note(v, u.reject, `${why}, but it cannot move now (${u.reject})`);
      continue;
    }
    if (moved + u.unit.length > maxMoves) {
      for (const x of u.unit) b.note(x, NotMovedCode.moveCap, `${why}, but the round's ${maxMoves} moves are used`);
      continue;
    }
    if (m.unitCost(u.unit, h, h) === null) {
      for (const x of u.unit) b.note(x, NotMovedCode.notConvergent, `${why}, but no migration strategy completes for it`);
      continue;
    }
    if (move(u.unit, h, why)) moved += u.unit.length;
    else for (const x of u.unit) b.note(x, NotMovedCode.noDestination, noHostFor(why));
  }
  return moved;
}
