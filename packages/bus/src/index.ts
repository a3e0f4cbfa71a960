export { Bus, ErrorHeader, RemoteErrorCode } from "./bus.js";
export type { ConnectionInfo, Handler, MsgContext, RequestOptions, SubscribeOptions, Subscription } from "./bus.js";
export type { BusOptions, ResolvedBusOptions } from "./options.js";
export { resolveOptions } from "./options.js";
export {
  BusError,
  BusErrorCode,
  InvalidMessageError,
  RequestTimeoutError,
  RequestFailedError,
  PublishFailedError,
  SubscribeDeniedError,
  NoRespondersError,
  RemoteError,
  BusConnectError,
  BusClosedError,
  InvalidOptionsError,
  JetStreamOpError,
} from "./errors.js";
export type { Direction, FieldIssue } from "./errors.js";
export { encode, decode, type Decoded } from "./codec.js";
export { BusStatusType, type BusStatus, type StatusListener } from "./status.js";
export type { BusStats } from "./stats.js";
export { JetStreamHelpers, TypedKv } from "./jetstream.js";
export type {
  StreamOptions,
  StreamReplicas,
  KvOptions,
  KvChange,
  KvWatch,
  ConsumeOptions,
  ConsumeVerdict,
  StreamConsumer,
  StreamMsgContext,
} from "./jetstream.js";
export {
  DEFAULT_MAX_PAYLOAD,
  authorizationConfig,
  identityName,
  parseIdentityName,
  inboxPrefixFor,
  permissionsBlock,
  permissionsFor,
  serverConfig,
} from "./identities.js";
export type { AuthorizedUser, Identity, Permissions, ServerTls } from "./identities.js";
export { connectionFiles, connectionFilesIn, writeCredentials } from "./credentials.js";
export type { Credentials, CredentialsOptions, IssuedIdentity, NatsConnectionFiles } from "./credentials.js";
export {
  NatsConnectionConfig,
  busConnectionOptions,
  checkNatsTransport,
  identityShown,
  insecureServers,
  natsConnectionFields,
  natsFileProblems,
  warnInsecureServers,
  type InsecureServer,
} from "./connection-config.js";
export { ensureCa, issueCert, type CertFiles } from "./certificates.js";
export { LeaderLease, type LeaderLeaseOptions } from "./lease.js";
export { leaseBucket, journalBucket, LeaseHolder, leaseTiming, roleAfter, expire, isLeading, initialRole } from "./lease-logic.js";
export type { LeaseAttempt, LeaseRole, LeaseTiming } from "./lease-logic.js";
