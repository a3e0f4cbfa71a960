import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "@drover/protocol";
import { StoreError } from "@drover/store";
import { StoreHealth, isWriteFailure } from "../src/store-health.js";
import { tempDir } from "./helpers.js";

describe("store health", () => {
  it("a refused write stops acting with its reason and time; a probe write beside the store resumes it", async () => {
    await using dir = await tempDir();
    let now = 1_000;
    const stateDir = join(dir.path, "state");
    const h = new StoreHealth(stateDir, { now: () => now }, silentLogger);
    expect(h.status()).toEqual({ writable: true, sinceMs: null, reason: null });
    // Its directory missing, the room left cannot be looked at: the writes themselves will say.
    expect(h.check()).toBe(true);
    const full = new StoreError("write-failed", "store /x/drover.sqlite: the disk is full: database or disk is full");
    expect(isWriteFailure(full)).toBe(true);
    expect(isWriteFailure(new StoreError("conflict", "taken"))).toBe(false);
    h.failed(full);
    now = 2_000;
    h.failed(new StoreError("write-failed", "a later one"));
    expect(h.status()).toEqual({ writable: false, sinceMs: 1_000, reason: full.message });
    // The directory cannot take the probe (here: it does not exist): still not writable.
    expect(h.check()).toBe(false);
    expect(h.writable).toBe(false);
    mkdirSync(stateDir);
    expect(h.check()).toBe(true);
    expect(h.status()).toEqual({ writable: true, sinceMs: null, reason: null });
  });
});
