// `drover credentials`: the NATS identities of a cluster (packages/bus writeCredentials): one nkey
// user per host, one for the scheduler, optionally a read-only one for tools, with the
// nats-server config that grants each exactly its job, and the `nats` section of every app's
// YAML. One directory (one nats-server) may hold several clusters, each run naming one; their
// hosts and schedulers read each other's host reports. Seeds are written to 0600 files and never printed.
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { stringify } from "yaml";
import { connectionFiles, DEFAULT_MAX_PAYLOAD, InvalidOptionsError, writeCredentials, type Credentials } from "@drover/bus";
import { printJson } from "../format.js";
import { usageError } from "../errors.js";

/** writeCredentials' option names as this command's flags, for its error messages. */
const FLAG: Record<string, string> = { hosts: "host", servers: "server", maxPayload: "max-payload", dir: "out", tlsNames: "tls-name" };

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(",").map((s) => s.trim())].filter(Boolean);

/**
 * `agent-<h>.yaml`, `scheduler.yaml`, `tools.yaml` (`scheduler-<cluster>.yaml`, `tools-<cluster>.yaml` for
 * a cluster after the first): the nats section of each identity (file paths, no secret).
 */
export async function writeSnippets(c: Credentials, revokedHosts: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const h of revokedHosts) await rm(join(c.dir, `agent-${h}.yaml`), { force: true });
  for (const i of c.identities) {
    const file = join(c.dir, i.identity.kind === "host" ? `agent-${i.identity.host}.yaml` : `${i.name}.yaml`);
    const who = i.identity.kind === "host" ? `drover-agent of host ${i.identity.host}` : i.name;
    const text = `# nats section for ${who} of cluster ${i.identity.cluster} (written by drover credentials)\n${stringify({ nats: connectionFiles(c, i.name) })}`;
    await writeFile(file, text, { mode: 0o600 });
    files.push(file);
  }
  return files;
}

export function registerCredentialsCommand(program: Command): void {
  program
    .command("credentials")
    .description(
      "issue NATS identities (nkey users with per-subject permissions, mutual TLS) and the nats-server config; " +
        "several clusters may share one directory and server, each confined to its own subjects (their hosts and schedulers also read each other's host reports)",
    )
    .requiredOption(
      "--cluster <name>",
      "cluster name (the subjects' cluster token); a cluster the directory does not hold yet is added (the first cluster's scheduler and tools identities are scheduler and tools, another's scheduler-<cluster> and tools-<cluster>)",
    )
    .requiredOption("--out <dir>", "credentials directory (created 0700; re-running keeps existing keys)")
    .option(
      "--host <ids>",
      "host(s) of --cluster to issue (repeat or comma-separate); a host id belongs to one cluster of the directory",
      collect,
      [],
    )
    .option("--tools", "also issue the read-only tools identity of --cluster")
    .option("--revoke <ids>", "host(s) of --cluster whose user is removed (then reload nats-server)", collect, [])
    .option(
      "--server <url>",
      "NATS server URL(s) the apps use; their hosts go into the server certificate (default nats://127.0.0.1:4222)",
      collect,
    )
    .option("--tls-name <name>", "another IP or DNS name of the server certificate", collect)
    .option("--no-tls", "no CA or certificates (a new directory only; not for production)")
    .option("--max-payload <bytes>", `nats-server max_payload (default ${DEFAULT_MAX_PAYLOAD}, or what the directory recorded)`)
    .option("--json", "print what was written (paths and public keys, never a seed)")
    .action(
      async (o: {
        cluster: string;
        out: string;
        host: string[];
        tools?: boolean;
        revoke: string[];
        server?: string[];
        tlsName?: string[];
        tls: boolean;
        maxPayload?: string;
        json?: boolean;
      }) => {
        let maxPayload: number | undefined;
        if (o.maxPayload !== undefined) {
          maxPayload = Number(o.maxPayload);
          if (!/^\d+$/.test(o.maxPayload)) throw usageError(`--max-payload must be a byte count, not ${JSON.stringify(o.maxPayload)}`);
        }
        let c: Credentials;
        try {
          c = await writeCredentials({
            dir: o.out,
            cluster: o.cluster,
            hosts: o.host,
            revoke: o.revoke,
            ...(o.tools ? { tools: true } : {}),
            ...(o.server?.length ? { servers: o.server } : {}),
            ...(o.tlsName?.length ? { tlsNames: o.tlsName } : {}),
            ...(o.tls ? {} : { tls: false }),
            ...(maxPayload !== undefined ? { maxPayload } : {}),
          });
        } catch (e) {
          if (e instanceof InvalidOptionsError)
            throw usageError(e.issues.map((i) => `--${FLAG[i.field] ?? i.field}: ${i.message}`).join("; "));
          throw e;
        }
        const snippets = await writeSnippets(c, o.revoke);
        if (o.json) {
          return printJson({
            dir: c.dir,
            cluster: c.cluster,
            clusters: c.clusters,
            servers: c.servers,
            maxPayload: c.maxPayload,
            serverConfig: c.serverConfigFile,
            authorization: c.authorizationFile,
            tls: c.tls ?? null,
            identities: c.identities.map((i) => ({
              name: i.name,
              cluster: i.identity.cluster,
              publicKey: i.publicKey,
              seedFile: i.seedFile,
              tls: i.tls ?? null,
            })),
            snippets,
            added: c.added,
            revoked: c.revoked,
          });
        }
        const w = (l: string) => void process.stdout.write(`${l}\n`);
        w(`credentials in ${c.dir}, clusters ${c.clusters.join(", ")}:`);
        for (const cluster of c.clusters) {
          const names = c.identities.filter((i) => i.identity.cluster === cluster).map((i) => i.name);
          w(`  ${cluster}: ${names.join(", ")}`);
        }
        if (c.added.length) w(`added: ${c.added.join(", ")}`);
        if (c.revoked.length) w(`revoked: ${c.revoked.join(", ")} (reload nats-server to apply: nats-server --signal reload, or SIGHUP)`);
        w(`nats-server: -c ${c.serverConfigFile} (or include ${c.authorizationFile} in your own config)`);
        w(
          `app configs: put the nats section of ${join(c.dir, "agent-<host>.yaml")} / scheduler.yaml (scheduler-<cluster>.yaml past the first cluster) into each app's YAML`,
        );
      },
    );
}
