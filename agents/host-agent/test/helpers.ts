import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Bus, Subscription } from "@drover/bus";
import { labNatsConnection, type LabOptions } from "@drover/lab";
import { vi } from "vitest";
import type { z } from "zod";

export const AGENT_DIR = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const AGENT_MAIN = join(AGENT_DIR, "src", "main.ts");
/** The operator's entry point: `drover-agent --config FILE`. */
export const AGENT_BIN = join(AGENT_DIR, "bin", "drover-agent.js");

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { movedLive, ticksAbove } from "@drover/lab/testing";

/** Every message on a subject, kept in arrival order. */
export class Collector<T> {
  readonly items: T[] = [];
  readonly sub: Subscription;
  constructor(bus: Bus, subject: string, schema: z.ZodType<T>) {
    this.sub = bus.subscribe(subject, schema, (m) => {
      this.items.push(m as T);
    });
  }
  async next(what: string, pred: (m: T) => boolean, timeoutMs = 30_000, after = 0): Promise<T> {
    return vi.waitFor(
      () => {
        const found = this.items.slice(after).find(pred);
        if (found === undefined) throw new Error(`waiting for ${what}: none of ${this.items.length - after} messages matched`);
        return found;
      },
      { timeout: timeoutMs, interval: 100 },
    );
  }
  stop(): void {
    this.sub.unsubscribe();
  }
}

export const virsh = (uri: string, ...args: string[]) =>
  execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 120_000 });

/** Defines (without starting) a domain on a lab host from XML. */
export async function defineDomain(uri: string, dir: string, name: string, xml: string): Promise<void> {
  const f = join(dir, `${name}.define.xml`);
  await writeFile(f, xml);
  virsh(uri, "define", f);
}

/** The environment that gives a spawned agent a nats identity (seed file and TLS files; see ENV_KEYS). */
export function natsEnv(n: { nkeySeedFile: string; tls?: { ca: string; cert: string; key: string } }): Record<string, string> {
  return {
    DROVER_NATS_SEED_FILE: n.nkeySeedFile,
    ...(n.tls ? { DROVER_NATS_TLS_CA: n.tls.ca, DROVER_NATS_TLS_CERT: n.tls.cert, DROVER_NATS_TLS_KEY: n.tls.key } : {}),
  };
}

/** Spawns each lab host's agent the way an operator runs it: `drover-agent --config FILE`, per-host values from env. */
export function agentFromConfig(config: string): NonNullable<LabOptions["agentCommand"]> {
  return (h, info) => ({
    cmd: process.execPath,
    args: [AGENT_BIN, "--config", config],
    env: {
      DROVER_HOST: h.name,
      DROVER_CLUSTER: info.cluster,
      DROVER_LIBVIRT_URI: h.uri,
      DROVER_NATS_SERVERS: info.natsUrl,
      ...natsEnv(labNatsConnection(info.stateDir, info.natsUrl, h.name)),
      DROVER_LAB_HOST_FILE: join(h.dir, "lab-host.json"),
    },
  });
}

/** A config file as an operator would write it; per-host values come from the environment. */
export async function writeAgentConfig(dir: string, extra = ""): Promise<string> {
  const file = join(dir, "agent.yaml");
  await writeFile(
    file,
    `# Shared by every lab agent; DROVER_HOST, DROVER_LIBVIRT_URI, DROVER_NATS_SERVERS and
# DROVER_LAB_HOST_FILE come from the environment.
cluster: lab
host: placeholder
nats:
  servers: [nats://127.0.0.1:4222]
reportIntervalMs: 1000
dirtyRate:
  everyMs: 4000
  measureSeconds: 1
labSafeNetwork: true
logLevel: debug
${extra}`,
  );
  return file;
}
