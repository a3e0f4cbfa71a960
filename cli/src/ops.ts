// Waiting for what the scheduler does: shared by the commands (`--wait`) and the demo.
import { setTimeout as sleep } from "node:timers/promises";
import { ApiMaintenance, ApiMigration, ApiMigrationEnded, ApiPowerAction, HostsResponse, type ApiHost } from "@drover/protocol";
import { UnreachableError, type ApiClient } from "./api-client.js";
import { CliError } from "./errors.js";

export type Migration = ApiMigration;
export type Maintenance = ApiMaintenance;
export type PowerAction = ApiPowerAction;

export interface WaitOptions {
  pollMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

async function poll<T>(
  what: string,
  fetchOnce: () => Promise<T>,
  done: (v: T) => boolean,
  onUpdate: (v: T) => void,
  o: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 15 * 60_000);
  for (;;) {
    const v = await fetchOnce();
    onUpdate(v);
    if (done(v)) return v;
    if (Date.now() > deadline)
      throw new CliError(`gave up waiting for ${what} after ${Math.round((o.timeoutMs ?? 0) / 1000)} s`, "timeout");
    await sleep(o.pollMs ?? 500, undefined, o.signal ? { signal: o.signal } : {});
  }
}

export function waitMigration(
  api: ApiClient,
  id: string,
  onUpdate: (m: Migration) => void = () => {},
  o: WaitOptions = {},
): Promise<Migration> {
  return poll(
    `migration ${id}`,
    () => api.get(`/v1/migrations/${encodeURIComponent(id)}`, ApiMigration),
    (m) => ApiMigrationEnded.has(m.state),
    onUpdate,
    o,
  );
}

/** A drain is over for a waiting operator when the host is empty (in maintenance, or powered off if asked) or blocked. */
export function drainSettled(m: Maintenance): boolean {
  // The scheduler may call a drain "blocked" for a moment while the last moves' reports arrive;
  // a block that names no VM is not an answer for the operator yet.
  if (m.state === "blocked") return m.blockers.length > 0;
  if (m.state === "failed" || m.state === "ended" || m.state === "powered-off") return true;
  if (m.state !== "in-maintenance") return false;
  return !m.powerOff || m.message.includes("refused");
}

export function waitDrain(
  api: ApiClient,
  id: string,
  onUpdate: (m: Maintenance) => void = () => {},
  o: WaitOptions = {},
): Promise<Maintenance> {
  return poll(`maintenance ${id}`, () => api.get(`/v1/maintenance/${encodeURIComponent(id)}`, ApiMaintenance), drainSettled, onUpdate, o);
}

export function waitPower(
  api: ApiClient,
  id: string,
  onUpdate: (p: PowerAction) => void = () => {},
  o: WaitOptions = {},
): Promise<PowerAction> {
  return poll(
    `power action ${id}`,
    () => api.get(`/v1/power/${encodeURIComponent(id)}`, ApiPowerAction),
    (p) => p.state !== "pending",
    onUpdate,
    o,
  );
}

export async function hosts(api: ApiClient): Promise<ApiHost[]> {
  return (await api.get("/v1/hosts", HostsResponse)).hosts;
}

/** Waits until `pred` holds for the host list (e.g. every host reports); a scheduler still starting counts as no hosts. */
export function waitHosts(api: ApiClient, what: string, pred: (h: ApiHost[]) => boolean, o: WaitOptions = {}): Promise<ApiHost[]> {
  const fetchOnce = () => hosts(api).catch((e: unknown) => (e instanceof UnreachableError ? [] : Promise.reject(e)));
  return poll(what, fetchOnce, pred, () => {}, o);
}
