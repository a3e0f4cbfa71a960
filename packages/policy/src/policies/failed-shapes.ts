// Unit shapes that found no destination while consolidate empties hosts: a later unit at least as
// large in every dimension fails too, so it is skipped in O(1).

import type { ClusterModel } from "../model.js";

export interface Shape {
  cpu: number;
  mem: number;
  vcpu: number;
}

/**
 * Unit shapes (CPU, memory, vCPUs) that found no destination, kept minimal: a shape at least as
 * large as a failed one in every dimension fails too, in O(1). VM sizes come in few kinds, so the
 * list stays a handful long.
 */
export class FailedShapes {
  private readonly failed: Shape[] = [];
  constructor(
    private readonly m: ClusterModel,
    private readonly enforceMem: boolean,
  ) {}
  shapeOf(unit: readonly number[]): Shape {
    let cpu = 0;
    let mem = 0;
    let vcpu = 0;
    for (const v of unit) {
      cpu += this.m.vmCpu[v] ?? 0;
      mem += this.enforceMem ? (this.m.vmMem[v] ?? 0) : 0;
      vcpu += this.m.vms[v]?.vcpus ?? 0;
    }
    return { cpu, mem, vcpu };
  }
  doomed(s: Shape): boolean {
    return this.failed.some((f) => dominates(f, s));
  }
  add(s: Shape): void {
    for (let i = this.failed.length - 1; i >= 0; i--) if (dominates(s, this.failed[i] as Shape)) this.failed.splice(i, 1);
    this.failed.push(s);
  }
  /** A host came back with more room: earlier failures prove nothing any more. */
  clear(): void {
    this.failed.length = 0;
  }
}

function dominates(a: Shape, b: Shape): boolean {
  return b.cpu >= a.cpu && b.mem >= a.mem && b.vcpu >= a.vcpu;
}
