import { describe, expect, it } from "vitest";
import { Store, StoreError } from "../src/index.js";
import { migration, tempDir, uuid } from "./helpers.js";

describe("writes the disk refuses", () => {
  it("come out as write-failed naming the file, tell the listener, keep nothing half-written, and reads go on", () => {
    using dir = tempDir();
    const heard: StoreError[] = [];
    const path = dir.file();
    using s = Store.open({ path, onWriteFailure: (e) => heard.push(e) });
    s.migrations.insert(migration("m1"));
    s.close();
    // A cap just above what the file holds now stands in for a disk that is full.
    using small = Store.open({ path, onWriteFailure: (e) => heard.push(e), maxPages: 1 });
    const big = "x".repeat(64 * 1024);
    let thrown: unknown;
    try {
      small.transaction(() => {
        small.migrations.insert(migration("m2", { vmUuid: uuid(2), reason: big }));
        small.migrations.insert(migration("m3", { vmUuid: uuid(3), reason: big }));
      });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect(thrown).toMatchObject({ code: "write-failed" });
    expect((thrown as Error).message).toContain(path);
    expect((thrown as Error).message).toMatch(/disk is full/);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toBe(thrown);
    expect(small.migrations.list().map((m) => m.id)).toEqual(["m1"]);
    // Not a storage failure: passed on as it was, the listener not told.
    expect(() => small.migrations.update("nope", { status: "running" })).toThrow(/no migration 'nope'/);
    expect(heard).toHaveLength(1);
  });

  it("refuses a maxPages that is not a positive integer", () => {
    using dir = tempDir();
    expect(() => Store.open({ path: dir.file(), maxPages: 0 })).toThrow(/maxPages must be a positive integer, got 0/);
  });
});
