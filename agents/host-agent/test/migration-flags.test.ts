import { MigrateOptions } from "@drover/protocol";
import { describe, expect, it } from "vitest";
import type { Hypervisor } from "../src/hypervisor.js";
import { migrateFlags } from "../src/migration.js";

// virDomainMigrateFlags values (libvirt-domain.h).
const AUTO_CONVERGE = 8192;
const hv = {
  flags: {
    LIVE: 1,
    PEER2PEER: 2,
    PERSIST_DEST: 8,
    UNDEFINE_SOURCE: 16,
    NON_SHARED_DISK: 64,
    UNSAFE: 512,
    OFFLINE: 1024,
    AUTO_CONVERGE,
    TLS: 65536,
  },
} as Hypervisor;

describe("migration flags", () => {
  it("arm auto-converge when the ladder may need it, never for a TCG guest (QEMU 7.2's throttling corrupts its memory)", () => {
    const ladder = MigrateOptions.parse({
      escalation: [{ action: "raise-downtime", toMs: 1000 }, { action: "auto-converge" }, { action: "abort" }],
    });
    const asked = MigrateOptions.parse({ autoConverge: true });
    expect(migrateFlags(hv, ladder, true, true) & AUTO_CONVERGE).toBe(AUTO_CONVERGE);
    expect(migrateFlags(hv, asked, true, false) & AUTO_CONVERGE).toBe(AUTO_CONVERGE);
    expect(migrateFlags(hv, ladder, true, true, [], true) & AUTO_CONVERGE).toBe(0);
    expect(migrateFlags(hv, asked, true, false, [], true) & AUTO_CONVERGE).toBe(0);
    expect(migrateFlags(hv, MigrateOptions.parse({}), true, true) & AUTO_CONVERGE).toBe(0);
  });
});
