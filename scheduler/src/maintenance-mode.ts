// How an open maintenance holds a host, on its own so that the maintenance service and the power
// manager (which the maintenance service uses) can both ask.
import type { MaintenanceRow } from "@drover/store";

/**
 * The mode a host's open maintenance (`store.maintenance.active`) holds it in once it is on (a drain
 * under way, or done); null without one. A host powered off in maintenance and powered on again comes
 * back in it, not in service, until undrained.
 */
export function maintenanceMode(open: MaintenanceRow | undefined): "maintenance" | "draining" | null {
  return open === undefined ? null : open.status === "in-maintenance" ? "maintenance" : "draining";
}
