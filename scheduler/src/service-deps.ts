// What the scheduler's long-lived services are built with: the cluster picture, the store, the agents
// and the clock, configuration, logging and metrics. Each service's own deps extend this.
import type { Logger } from "@drover/protocol";
import type { Store } from "@drover/store";
import type { AgentClient } from "./agent-client.js";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";
import type { Metrics } from "./metrics.js";

export interface ServiceDeps {
  store: Store;
  state: ClusterState;
  agents: AgentClient;
  clock: Clock;
  config: SchedulerConfig;
  log: Logger;
  metrics: Metrics;
}
