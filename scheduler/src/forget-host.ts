// `drover host forget H`: removes a host that no longer exists (decommissioned, renamed) from the
// cluster picture and the store's current tables. Its history (migrations, power actions,
// maintenance, plans) stays. Refused while anything says the host is still there or in use.
import type { Logger } from "@drover/protocol";
import type { Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import type { VmRowWriter } from "./vm-rows.js";
import type { SchedulerConfig } from "./config.js";
import { NotFoundError, RefusedError } from "./errors.js";

export interface ForgetHostDeps {
  state: ClusterState;
  store: Store;
  clock: Clock;
  config: SchedulerConfig;
  log: Logger;
  vmRows: Pick<VmRowWriter, "forget">;
}

/** Returns how many VMs the cluster picture placed on the host (now gone from it). */
export function forgetHost(d: ForgetHostDeps, id: string, by: string): { vms: number } {
  const { state, store, clock, config, log } = d;
  const now = clock.now();
  const h = state.hosts.get(id);
  if (!h) throw new NotFoundError(`no host "${id}"`, "id");
  const refuse = (code: string, why: string) => {
    throw new RefusedError(code, `${id} cannot be forgotten: ${why}`, "id");
  };
  if (Object.hasOwn(config.hosts, id))
    refuse("host-configured", `it is listed under hosts: in the scheduler's config; remove it there first`);
  if (state.isReachable(h, now))
    refuse(
      "host-reporting",
      `it reported ${Math.round((now - h.lastSeenMs!) / 1000)} s ago; stop its agent (or revoke its credentials) first`,
    );
  const move = store.migrations.inFlight().find((m) => m.source === id || m.destination === id);
  if (move) refuse("host-busy", `migration ${move.id} of ${move.vmName} (${move.source} -> ${move.destination}) is ${move.status}`);
  const power = store.power.open().find((p) => p.host === id);
  if (power) refuse("host-busy", `power action ${power.id} (${power.action}) is ${power.status}`);
  if (h.mode === "waking" || h.mode === "powering-off") refuse("host-busy", `it is ${h.mode}`);
  const mnt = store.maintenance.active(id);
  // A finished drain (in maintenance, maybe powered off) is how a host is retired: it is closed
  // with the host. One still draining or blocked is work in progress.
  if (mnt && mnt.status !== "in-maintenance") refuse("host-busy", `maintenance ${mnt.id} is ${mnt.status}; undrain it first`);

  store.transaction(() => {
    for (const v of store.vms.list({ host: id })) {
      store.vms.remove(v.uuid);
      d.vmRows.forget(v.uuid);
    }
    if (mnt) {
      const message = `${id} forgotten by ${by}`;
      store.maintenance.update(mnt.id, { status: "cancelled", blockers: { ...(mnt.blockers as object), message }, atMs: now });
    }
    store.hosts.remove(id);
  });
  const vms = state.forgetHost(id) ?? 0;
  log.info({ host: id, by, vms, maintenance: mnt?.id }, "host forgotten");
  return { vms };
}
