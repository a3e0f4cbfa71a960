// The cluster's recorded load over a period on one 5-minute grid, with what really happened in it
// (moves, hosts on, energy), for `drover simulate --from-history` to replay through the policies.
import type { LoadReplayResponse } from "@drover/protocol";
import { LOAD_BUCKET_MS, type Store } from "@drover/store";
import type { SchedulerConfig } from "./config.js";
import { loadGrid } from "./load-history-forecast.js";

type Capacity = { cpus: number; mhz: number; memoryMiB: number };

function capacityOf(c: unknown): Capacity | null {
  const x = c as Partial<Capacity> | null;
  return x && typeof x.cpus === "number" && typeof x.mhz === "number" && typeof x.memoryMiB === "number" && x.cpus > 0 && x.mhz > 0
    ? { cpus: x.cpus, mhz: x.mhz, memoryMiB: x.memoryMiB }
    : null;
}

/** The series' values on the grid [startMs, startMs + steps·step), null where it has none. */
function onGrid(store: Pick<ReplaySources, "load">, kind: "host" | "vm", id: string, startMs: number, steps: number): (number | null)[] {
  const g = loadGrid(store.load.series(kind, id, startMs, startMs + steps * LOAD_BUCKET_MS), startMs + steps * LOAD_BUCKET_MS);
  const offset = Math.round((g.startMs - startMs) / LOAD_BUCKET_MS);
  const out = new Array<number | null>(steps).fill(null);
  g.cpuMhz.forEach((v, i) => {
    if (Number.isFinite(v) && offset + i >= 0 && offset + i < steps) out[offset + i] = v;
  });
  return out;
}

/** The store reads a replay needs. */
export interface ReplaySources {
  load: Pick<Store["load"], "series" | "ids">;
  hosts: Pick<Store["hosts"], "list">;
  vms: Pick<Store["vms"], "get">;
  migrations: Pick<Store["migrations"], "list">;
}

export function loadReplay(store: ReplaySources, config: SchedulerConfig, sinceMs: number, nowMs: number): LoadReplayResponse {
  // The whole steps between the cluster's first and last record in the period: a period asked for
  // before the history began starts there, and one past its end (a store copied elsewhere, a
  // scheduler stopped) is not padded with steps in which nothing was on.
  const cluster = store.load.series("cluster", config.cluster, sinceMs, nowMs);
  const startMs = Math.ceil(Math.max(sinceMs, cluster[0]?.atMs ?? sinceMs) / LOAD_BUCKET_MS) * LOAD_BUCKET_MS;
  const endMs = Math.min(nowMs, (cluster.at(-1)?.atMs ?? nowMs) + 1);
  const steps = Math.max(0, Math.floor(endMs / LOAD_BUCKET_MS) - startMs / LOAD_BUCKET_MS);
  const hosts: LoadReplayResponse["hosts"] = [];
  let active = 0;
  let energyWh = 0;
  let withPower = 0;
  for (const row of store.hosts.list()) {
    const cap = capacityOf(row.capacity);
    if (row.cluster !== config.cluster || !cap) continue;
    const power = config.hosts[row.id]?.power;
    const idleW = power?.idleW ?? null;
    const maxW = power?.maxW ?? null;
    hosts.push({ id: row.id, cpus: cap.cpus, mhz: cap.mhz, memoryMiB: cap.memoryMiB, idleW, maxW });
    const cpu = onGrid(store, "host", row.id, startMs, steps);
    if (idleW !== null && maxW !== null) withPower++;
    for (const v of cpu) {
      if (v === null) continue;
      active++;
      if (idleW !== null && maxW !== null)
        energyWh += ((idleW + (maxW - idleW) * Math.min(1, v / (cap.cpus * cap.mhz))) * LOAD_BUCKET_MS) / 3_600_000;
    }
  }
  const vms: LoadReplayResponse["vms"] = [];
  for (const id of store.load.ids("vm", startMs)) {
    const row = store.vms.get(id);
    const cpuMhz = onGrid(store, "vm", id, startMs, steps);
    if (!cpuMhz.some((v) => v !== null)) continue;
    vms.push({ id, name: row?.name ?? id, vcpus: row?.vcpus ?? 1, memoryMiB: row?.memoryMiB ?? 1, cpuMhz });
  }
  const migrations = store.migrations.list({ since: startMs, status: "succeeded", limit: 1_000_000 }).length;
  return {
    cluster: config.cluster,
    startMs,
    stepMs: LOAD_BUCKET_MS,
    steps,
    hosts,
    vms,
    actual: { migrations, activeHostsMean: steps > 0 ? active / steps : 0, energyKwh: withPower > 0 ? energyWh / 1000 : null },
  };
}
