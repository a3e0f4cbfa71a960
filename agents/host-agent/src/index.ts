// @drover/host-agent: one per KVM host. Reports, runs commands, owns no policy.
export { HostAgent, AGENT_VERSION, type HostAgentOptions } from "./agent.js";
export { loadConfig, resolveConfig, ENV_KEYS, DEFAULT_SHARED_FS_TYPES, type AgentConfig, type AgentConfigInput } from "./config.js";
export { AgentError, AgentErrorCode, ConfigError } from "./errors.js";
export { createLogger } from "./logger.js";
export { AgentMetrics } from "./metrics.js";
export { DROVER_NS, describeDomain, type DomainDescription } from "./domain-xml.js";
export type { Hypervisor, HvConnection, HvDomain } from "./hypervisor.js";
