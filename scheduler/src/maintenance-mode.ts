// Whether an open maintenance holds a host, on its own so that the maintenance service and the power
// manager (which the maintenance service uses) can both ask.
import type { Store } from "@drover/store";

/**
 * The mode an open maintenance holds its host in once it is on (a drain under way, or done): a host
 * powered off in maintenance and powered on again comes back in it, not in service, until undrained.
 */
export function maintenanceMode(store: Pick<Store, "maintenance">, host: string): "maintenance" | "draining" | null {
  const row = store.maintenance.active(host);
  return row === undefined ? null : row.status === "in-maintenance" ? "maintenance" : "draining";
}
