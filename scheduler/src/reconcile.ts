// After a restart: every move the store says was unfinished is settled with what the agents say
// (a `status` command by the move's command id) and where the VM is reported, by the follow-up's
// one rule (applyStatus). Nothing is re-sent blindly: a move is sent again only if it provably
// never reached an agent.
import type { Logger } from "@drover/protocol";
import type { Store } from "@drover/store";
import type { AgentClient } from "./agent-client.js";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import type { Dispatcher } from "./dispatcher.js";

export interface ReconcileDeps {
  store: Store;
  state: ClusterState;
  dispatcher: Dispatcher;
  agents: AgentClient;
  clock: Clock;
  log: Logger;
  /** Wait this long for the first reports (where VMs are) when there is something to settle. */
  waitForReportsMs: number;
}

export interface ReconcileSummary {
  requeued: number;
  followed: number;
  settled: number;
}

export async function reconcile(d: ReconcileDeps): Promise<ReconcileSummary> {
  // A scheduler that leads again still follows the moves it followed before: only the others are settled.
  const rows = d.store.migrations.inFlight().filter((r) => !d.dispatcher.isActive(r.id));
  const out: ReconcileSummary = { requeued: 0, followed: 0, settled: 0 };
  if (rows.length === 0) return out;
  // A destination in another cluster reports in that cluster's picture, judged when the move is settled.
  await waitForReports(d, new Set(rows.flatMap((r) => (r.destinationCluster ? [r.source] : [r.source, r.destination]))));
  for (const row of rows) {
    if (row.status === "pending" || row.status === "preflight") {
      // The migrate command is sent only after the status becomes "dispatched": nothing was sent.
      d.dispatcher.enqueue(row.status === "pending" ? row : d.store.migrations.update(row.id, { status: "pending", atMs: d.clock.now() }));
      out.requeued++;
      continue;
    }
    d.dispatcher.adopt(row);
    let reply;
    try {
      reply = await d.agents.status(row.source, row.commandId, `st-${row.id}-restart-${d.clock.now().toString(36)}`);
    } catch (e) {
      // The source agent does not answer: keep following; the deadline settles it from the reports.
      d.log.warn({ migration: row.id, err: (e as Error).message }, "reconcile: source agent did not answer; following");
      out.followed++;
      continue;
    }
    d.dispatcher.applyStatus({ row }, reply);
    if (d.dispatcher.isActive(row.id)) out.followed++;
    else out.settled++;
  }
  d.log.info({ ...out }, "reconciled unfinished migrations");
  return out;
}

async function waitForReports(d: ReconcileDeps, hosts: Set<string>): Promise<void> {
  const deadline = Date.now() + d.waitForReportsMs;
  const now = () => d.clock.now();
  while (Date.now() < deadline) {
    const missing = [...hosts].filter((h) => {
      const e = d.state.hosts.get(h);
      return !e || !d.state.isReachable(e, now());
    });
    if (missing.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
