import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostReport, ValidationError, subjects, type HostReportInput } from "@drover/protocol";
import { sampleHostReport } from "@drover/protocol/testing";
import { NatsServer } from "../src/testing/index.js";
import type { Bus, InvalidMessageError } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { connectTo } from "./helpers.js";

let server: NatsServer;
let bus: Bus;
const log = memoryLogger();

beforeAll(async () => {
  server = await NatsServer.start();
  bus = await connectTo(server, { logger: log });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("with protocol's HostReport", () => {
  it("carries a 50-VM host report on its subject, validated on both sides", async () => {
    const got: HostReport[] = [];
    const sub = bus.subscribe(subjects.allHostReports("lab"), HostReport, (r) => void got.push(r));
    await bus.flush();
    const report = sampleHostReport(50, "kvm07");
    bus.publish(subjects.hostReport("lab", "kvm07"), HostReport, report);
    await expect.poll(() => got.length, { timeout: 10_000, interval: 20, message: "the report" }).toBe(1);
    expect(got[0]?.vms).toHaveLength(50);
    expect(got[0]?.host).toBe("kvm07");
    expect(got[0]?.vms[3]?.migrating).toBe(false); // default filled in by the sender's parse
    await sub.drain();
  });

  it("names the failing nested field of a bad report, on send and on receipt", async () => {
    const subject = subjects.hostReport("lab", "kvm08");
    const bad = sampleHostReport(5, "kvm08") as HostReportInput & { vms: { memoryMiB: number }[] };
    bad.vms[3]!.memoryMiB = -1;
    const err = (() => {
      try {
        bus.publish(subject, HostReport, bad);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as InvalidMessageError).field).toBe("vms.3.memoryMiB");

    let handled = 0;
    const sub = bus.subscribe(subject, HostReport, () => void handled++);
    await bus.flush();
    bus.nc.publish(subject, new TextEncoder().encode(JSON.stringify(bad)));
    await expect
      .poll(() => bus.stats().invalidBySubject[subject] ?? 0, { timeout: 10_000, interval: 20, message: "one invalid message counted" })
      .toBe(1);
    expect(handled).toBe(0);
    const warn = log.entries.find((e) => e.level === "warn" && e.obj["subject"] === subject);
    expect(warn?.obj["field"]).toBe("vms.3.memoryMiB");
    await sub.drain();
  });
});
