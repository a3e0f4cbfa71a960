import { describe, expect, it } from "vitest";
import { hostOfSubject, subjects } from "../src/index.js";

describe("hostOfSubject", () => {
  it("reads the host by position, whatever the cluster and host are named", () => {
    expect(hostOfSubject(subjects.hostReport("host", "h1"))).toBe("h1");
    expect(hostOfSubject(subjects.hostReport("lab", "host"))).toBe("host");
    expect(hostOfSubject(subjects.hostEvent("host", "host"))).toBe("host");
    expect(hostOfSubject(subjects.migrationResult("host", "migration", "m1"))).toBe("migration");
    expect(hostOfSubject(subjects.migrationProgress("lab", "h2", "host"))).toBe("h2");
    expect(hostOfSubject("drover.v1.lab.host.h1.other.m1.result")).toBeUndefined();
    expect(hostOfSubject("other.v1.lab.host.h1.report")).toBeUndefined();
    expect(hostOfSubject("drover.v1.lab.host")).toBeUndefined();
  });
});
