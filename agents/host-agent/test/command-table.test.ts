import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "@drover/protocol";
import { CommandTable } from "../src/command-table.js";

describe("command table", () => {
  const reply = (id: string) => ({
    v: 1 as const,
    id,
    host: "h1",
    kind: "migrate" as const,
    status: "accepted" as const,
    duplicate: false,
    error: null,
    timeMs: 1,
  });
  it("keeps the first reply per id and forgets the oldest beyond capacity", () => {
    const t = new CommandTable(2);
    expect(t.claim("a", reply("a"))).toBe(true);
    expect(t.claim("a", { ...reply("a"), status: "failed" })).toBe(false);
    expect(t.get("a")?.status).toBe("accepted");
    t.update("a", { status: "succeeded" });
    expect(t.get("a")?.status).toBe("succeeded");
    t.claim("b", reply("b"));
    t.claim("c", reply("c"));
    expect(t.get("a")).toBeUndefined();
    expect(t.size).toBe(2);
  });
});

describe("command journal (survives the agent's restart)", () => {
  const reply = (id: string, status: "accepted" | "succeeded" = "accepted") => ({
    v: 1 as const,
    id,
    host: "h1",
    kind: "migrate" as const,
    status,
    duplicate: false,
    error: null,
    migrationId: `m-${id}`,
    timeMs: 1,
  });
  const migration = (id: string) => ({
    migrationId: `m-${id}`,
    vm: "vm1",
    vmUuid: "11111111-2222-4333-8444-555555555555",
    destination: { host: "h2", uri: "qemu+tcp://127.0.9.2/system" },
    startedAtMs: 1000,
    timeoutMs: 600_000,
    undefineOnSource: true,
    guestRunning: true,
    images: [] as string[],
  });

  async function journal() {
    const dir = await mkdtemp(join(tmpdir(), "drover-journal-"));
    return { dir, file: join(dir, "agent-commands.json"), host: "h1", log: silentLogger };
  }

  it("hands a restarted agent the migrations under way, and their outcome once settled", async () => {
    const j = await journal();
    try {
      const before = new CommandTable(10, j);
      before.claim("c1", reply("c1"));
      before.recordMigration("c1", migration("c1"));
      before.claim("p1", { ...reply("p1"), kind: "preflight" });
      // A restart: only what is on disk is left.
      const after = new CommandTable(10, j);
      expect(after.unfinished()).toEqual([{ id: "c1", migration: migration("c1") }]);
      expect(after.get("c1")?.status).toBe("accepted");
      expect(after.get("p1")).toBeUndefined();
      after.update("c1", { status: "succeeded" });
      const again = new CommandTable(10, j);
      expect(again.unfinished()).toEqual([]);
      expect(again.get("c1")?.status).toBe("succeeded");
    } finally {
      await rm(j.dir, { recursive: true, force: true });
    }
  });

  it("keeps the cluster of a destination in another cluster, and reads journals from before the field", async () => {
    const j = await journal();
    try {
      const before = new CommandTable(10, j);
      before.claim("x1", reply("x1"));
      const across = { ...migration("x1"), destination: { host: "h1", uri: "qemu+tcp://127.0.9.1/system", cluster: "dc2" } };
      before.recordMigration("x1", across);
      before.claim("c1", reply("c1"));
      before.recordMigration("c1", migration("c1"));
      const after = new CommandTable(10, j);
      expect(after.unfinished()).toEqual([
        { id: "x1", migration: across },
        { id: "c1", migration: migration("c1") },
      ]);
      // Written before guestRunning: read as false, so recovery never resumes a guest it cannot know it paused.
      const old = JSON.parse(await readFile(j.file, "utf8")) as { migrations: { migration: Record<string, unknown> }[] };
      for (const m of old.migrations) delete m.migration["guestRunning"];
      // Before images: none known.
      for (const m of old.migrations) delete m.migration["images"];
      await writeFile(j.file, JSON.stringify(old));
      expect(new CommandTable(10, j).unfinished().map((u) => [u.migration.guestRunning, u.migration.images])).toEqual([
        [false, []],
        [false, []],
      ]);
    } finally {
      await rm(j.dir, { recursive: true, force: true });
    }
  });

  it("journals each disk image a migration creates, for a restarted agent to find", async () => {
    const j = await journal();
    try {
      const before = new CommandTable(10, j);
      before.claim("c1", reply("c1"));
      before.recordMigration("c1", migration("c1"));
      before.recordImage("c1", "/var/lib/libvirt/images/a.qcow2");
      before.recordImage("c1", "/var/lib/libvirt/images/b.qcow2");
      before.recordImage("unknown", "/var/lib/libvirt/images/c.qcow2");
      expect(before.migration("c1")?.images).toEqual(["/var/lib/libvirt/images/a.qcow2", "/var/lib/libvirt/images/b.qcow2"]);
      const after = new CommandTable(10, j);
      expect(after.unfinished()).toEqual([
        { id: "c1", migration: { ...migration("c1"), images: ["/var/lib/libvirt/images/a.qcow2", "/var/lib/libvirt/images/b.qcow2"] } },
      ]);
    } finally {
      await rm(j.dir, { recursive: true, force: true });
    }
  });

  it("sets aside a damaged journal or another host's, and starts without it", async () => {
    const j = await journal();
    // Both within one millisecond: the second set-aside file must not replace the first.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.UTC(2026, 11, 6) });
    try {
      await writeFile(j.file, "{ not json");
      expect(new CommandTable(10, j).unfinished()).toEqual([]);
      const other = new CommandTable(10, { ...j, host: "h2" });
      other.claim("c1", reply("c1"));
      other.recordMigration("c1", migration("c1"));
      expect(new CommandTable(10, j).unfinished()).toEqual([]);
      const files = (await readdir(j.dir)).sort();
      expect(files.filter((f) => f.includes(".bad-")).length).toBe(2);
    } finally {
      vi.useRealTimers();
      await rm(j.dir, { recursive: true, force: true });
    }
  });
});
