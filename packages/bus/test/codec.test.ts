// The codec validates through zod's compiled schemas: what a receiver gets (values, defaults,
// rejections and the fields they name) must be exactly what the schema's own parser says.
import { describe, expect, it } from "vitest";
import { Command, HostReport, issuesOf, type HostReportInput } from "@drover/protocol";
import { hostReport, vmReport } from "@drover/protocol/testing";
import { decode, encode } from "../src/index.js";

// Bad messages are built by spoiling a good one in place, field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately untyped
type Loose = Record<string, any>;
const te = new TextEncoder();
const bytes = (x: unknown) => te.encode(JSON.stringify(x));

/** Three guests with upper-case UUIDs (receivers lower-case them) and an IPMI wake beside the WoL one. */
function report(): HostReportInput {
  const base = hostReport();
  return hostReport({
    cluster: "c1",
    power: { canPowerOff: true, wake: [...base.power.wake, { method: "ipmi", address: "127.0.9.1" }] },
    vms: [1, 2, 3].map((i) => vmReport(i, { uuid: `0000000${i}-AAAA-4BBB-8CCC-DDDDDDDDDDD${i}`, dirtyRateMiBs: i % 2 ? 3.5 : null })),
  });
}

describe("codec (compiled schemas)", () => {
  it("decodes to exactly what the schema's parser returns: defaults filled, UUIDs lower-cased, unknown keys dropped", () => {
    const input = { ...report(), extra: "dropped" };
    const d = decode(HostReport, bytes(input), "s", "receive");
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value).toEqual(HostReport.parse(input));
    expect(d.value.vms[0]!.uuid).toBe("00000001-aaaa-4bbb-8ccc-ddddddddddd1");
    expect(d.value.vms[0]!.migrating).toBe(false);
    expect(d.value.vms[0]!.disks[0]!.readOnly).toBe(false);
    expect(d.value.power.wake[0]).toMatchObject({ method: "wol", port: 9 });
    expect("extra" in d.value).toBe(false);
  });

  const bad: [string, (r: Loose) => void, string][] = [
    ["a negative VM memory", (r) => (r.vms[1].memoryMiB = -1), "vms.1.memoryMiB"],
    ["a malformed VM UUID", (r) => (r.vms[2].uuid = "not-a-uuid"), "vms.2.uuid"],
    ["a non-integer vCPU count", (r) => (r.vms[0].vcpus = 1.5), "vms.0.vcpus"],
    ["an unknown VM state", (r) => (r.vms[0].state = "flying"), "vms.0.state"],
    ["a CPU fraction above 1", (r) => (r.usage.cpuFraction = 1.5), "usage.cpuFraction"],
    ["a bad wake method", (r) => (r.power.wake[0].method = "pxe"), "power.wake.0.method"],
    ["a bad MAC", (r) => (r.power.wake[0].mac = "zz"), "power.wake.0.mac"],
    ["a missing host", (r) => delete r.host, "host"],
    ["a wrong version", (r) => (r.v = 2), "v"],
    ["a string for a number", (r) => (r.seq = "7"), "seq"],
  ];
  it.each(bad)("rejects %s, naming the field as the schema's parser does", (_, spoil, field) => {
    const input: Loose = report();
    spoil(input);
    const d = decode(HostReport, bytes(input), "s", "receive");
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error.field).toBe(field);
    const r = HostReport.safeParse(input);
    expect(r.success).toBe(false);
    if (!r.success) expect(d.error.issues).toEqual(issuesOf(r.error));
  });

  it("encodes what the schema outputs and refuses invalid messages, naming the field", () => {
    const input = report();
    expect(JSON.parse(new TextDecoder().decode(encode(HostReport, input, "s", "publish")))).toEqual(
      JSON.parse(JSON.stringify(HostReport.parse(input))),
    );
    expect(() => encode(Command, { kind: "nope" } as never, "s", "publish")).toThrow(/kind/);
  });
});
