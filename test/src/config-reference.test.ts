// The configuration reference (docs/configuration.md) and the config files `drover install` writes
// (deploy/config/) are what scripts/gen-config-reference.ts makes from the zod schemas today.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { loadConfig as loadAgent } from "../../agents/host-agent/src/config.js";
import { checkDescribed, configKeys, renderYaml } from "../../cli/src/config-reference.js";
import { loadConfig as loadScheduler } from "../../scheduler/src/config.js";
import { configReferenceFiles } from "../../scripts/gen-config-reference.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("configuration reference", () => {
  it("every generated file is up to date (else run: node --import tsx scripts/gen-config-reference.ts)", () => {
    for (const [path, text] of Object.entries(configReferenceFiles())) expect(readFileSync(ROOT + path, "utf8"), path).toBe(text);
  });

  it("the installed configs load once an operator fills their required keys, with every default applied", async () => {
    const files = configReferenceFiles();
    const dir = mkdtempSync(join(tmpdir(), "drover-config-ref-"));
    const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    const fill = (text: string) =>
      text
        .replace(/^cluster:$/m, "cluster: c1")
        .replace(/^host:$/m, "host: h1")
        .replace(/^ {2}servers: \[\]$/m, '  servers: ["nats://127.0.0.1:4222"]');
    try {
      await expect(loadScheduler(write("empty.yaml", files["deploy/config/scheduler.yaml"]!))).rejects.toThrow(
        /cluster: .*nats\.servers: at least one server URL is required/,
      );
      const s = await loadScheduler(write("scheduler.yaml", fill(files["deploy/config/scheduler.yaml"]!)));
      expect(s.stateDir).toBe("/var/lib/drover-scheduler");
      expect(s.policies.consolidate.window.start).toBe("22:00");
      const a = await loadAgent(write("agent.yaml", fill(files["deploy/config/agent.yaml"]!)), {});
      expect(a.stateDir).toBe("/var/lib/drover-agent");
      expect(a.libvirt.uri).toBe("qemu:///system");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names every key without a description, and a map's entries by a placeholder", () => {
    const schema = z.object({
      a: z.number().int().min(1).default(2).describe("an a"),
      b: z.object({ c: z.string() }).optional(),
      hosts: z.record(z.string(), z.object({ d: z.boolean().optional() })).describe("per host"),
    });
    const keys = configKeys(schema);
    expect(keys.map((k) => k.path.join("."))).toEqual(["a", "b", "b.c", "hosts", "hosts.<host>.d"]);
    expect(keys[0]).toMatchObject({ type: "integer >= 1", default: "2", required: false });
    expect(keys[3]).toMatchObject({ required: true, section: true });
    expect(() => checkDescribed("x", keys)).toThrow(
      "x: 3 config key(s) without a description (add .describe() to the schema): b, b.c, hosts.<host>.d",
    );
    expect(renderYaml(keys, { header: [] })).toContain("  # <host>:\n");
  });
});
