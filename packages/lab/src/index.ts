export { LabError, LabErrorCode } from "./errors.js";
export {
  DEFAULT_NET,
  DEFAULT_WOL_PORT,
  LIBVIRTD_PORT,
  MAX_HOSTS,
  hostAddress,
  hostMac,
  hostUri,
  hostUuid,
  migrationPorts,
  natsAddress,
  natsUrls,
  MAX_NATS_NODES,
} from "./addresses.js";
export { LabHost, PRIVATE_DIRS, type LabHostOptions, type LabHostState } from "./lab-host.js";
export { startGuest, type LabGuest, type LabGuestOptions } from "./guest.js";
export {
  DISK_CACHE_MODES,
  DROVER_METADATA_NS,
  guestCmdline,
  guestDomainXml,
  type DiskCacheMode,
  type GuestSpec,
  type GuestWorkload,
} from "./guest-xml.js";
export { DEFAULT_CACHE_DIR, cacheDir, ensureGuestImage, type GuestImage } from "./guest-image.js";
export { guestKernelDied, guestKernelDiedIn, readFirstTick, readTicks } from "./ticks.js";
export { phaseTimer } from "./phase-timer.js";
export { diskContentHash, localDiskNsPath, writeLocalDisk } from "./local-disk.js";
export { isAlive, procRef, waitFor, type ProcRef } from "./proc.js";
export { Lab, labStatus, teardown, type LabInfo, type LabOptions, type LabStatus } from "./lab.js";
export { DEFAULT_LAB_DIR, labDir, type LabFile, type NatsNodeRecord } from "./lab-state.js";
export {
  ManagedProcess,
  RESTART_ON_FAILURE,
  RestartSupervisor,
  type ManagedState,
  type RestartPolicy,
  type SupervisedUnit,
} from "./supervisor.js";
export { LAB_PARTS, killPart, labSchedulerId, restartPart, type LabPart, type PartOptions } from "./controls.js";
export type { NatsNodeHealth } from "./lab-nats.js";
export type { SpawnSpec } from "./proc.js";
export type { PowerState } from "./lab-host.js";
export { labDown, labUp, PACKAGE_DIR, refuseIfLabRuns, tsxCommand, type LabUpOptions } from "./api.js";
export { expandTemplate, type CommandTemplate } from "./templates.js";
export { NETNS_PREFIX, netnsPlan, type NetnsPlan } from "./netns.js";
export { labBusOptions, labCredentialsDir, labNatsConnection, type LabIdentity } from "./lab-credentials.js";
