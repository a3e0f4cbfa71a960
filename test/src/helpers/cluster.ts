// Waiting on the cluster through the HTTP API.
import { ApiMigration, HostsResponse, MigrationsResponse, VmsResponse, type ApiHost, type ApiVm } from "@drover/protocol";
import { call, until } from "./api.js";

export async function hosts(api: string): Promise<ApiHost[]> {
  return (await call(api, "GET", "/v1/hosts", HostsResponse)).hosts;
}

export async function vms(api: string): Promise<ApiVm[]> {
  return (await call(api, "GET", "/v1/vms", VmsResponse)).vms;
}

export async function migrations(api: string): Promise<ApiMigration[]> {
  return (await call(api, "GET", "/v1/migrations?limit=1000", MigrationsResponse)).migrations;
}

/** Every host healthy and every named VM reported running. */
export function waitReady(api: string, nHosts: number, vmNames: string[], timeoutMs = 120_000): Promise<true> {
  return until(
    `${nHosts} healthy hosts reporting ${vmNames.join(", ")}`,
    async () => {
      const hs = await hosts(api);
      const vs = await vms(api);
      const ok =
        hs.filter((h) => h.state === "healthy").length >= nHosts &&
        vmNames.every((n) => vs.some((v) => v.name === n && v.state === "running"));
      return ok ? true : undefined;
    },
    timeoutMs,
  );
}

export function waitMigrationDone(api: string, id: string, timeoutMs = 180_000): Promise<ApiMigration> {
  const done = new Set(["succeeded", "failed", "aborted", "timed-out", "cancelled"]);
  return until(
    `migration ${id} to end`,
    async () => {
      const m = await call(api, "GET", `/v1/migrations/${id}`, ApiMigration);
      return done.has(m.state) ? m : undefined;
    },
    timeoutMs,
  );
}
