import { describe, expect, it } from "vitest";
import { HostReport, HostReportLimits, ValidationError, parseMessage } from "../src/index.js";
import { hostReport as baseReport, vmReport } from "../src/testing/index.js";

const hostReport = (vms: number) => baseReport({ vms: Array.from({ length: vms }, (_, i) => vmReport(i)) });

/** The field named by the refusal of a report changed by `edit`. */
function refusedField(edit: (r: ReturnType<typeof hostReport>) => void): string {
  const r = hostReport(1);
  edit(r);
  try {
    parseMessage(HostReport, r, "host report");
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).issues[0]!.field;
  }
  throw new Error("accepted");
}

describe("host report bounds", () => {
  it("accepts a report at every bound", () => {
    const r = hostReport(HostReportLimits.vms);
    const v = r.vms[0]!;
    v.tags = Array.from({ length: HostReportLimits.tagsPerVm }, (_, i) => `${i}`.padEnd(HostReportLimits.nameChars, "t"));
    v.disks = Array.from({ length: HostReportLimits.disksPerVm }, (_, i) => ({ ...v.disks[0]!, target: `vd${i}` }));
    r.capacity.cpus = HostReportLimits.cpus;
    expect(parseMessage(HostReport, r).vms).toHaveLength(HostReportLimits.vms);
  });

  it("refuses a report over a bound, naming the field", () => {
    expect(refusedField((r) => (r.vms = hostReport(5000).vms))).toBe("vms");
    expect(refusedField((r) => (r.vms[0]!.tags = Array.from({ length: HostReportLimits.tagsPerVm + 1 }, () => "t")))).toBe("vms.0.tags");
    expect(refusedField((r) => (r.vms[0]!.name = "n".repeat(HostReportLimits.nameChars + 1)))).toBe("vms.0.name");
    expect(
      refusedField((r) => (r.vms[0]!.disks = Array.from({ length: HostReportLimits.disksPerVm + 1 }, () => r.vms[0]!.disks[0]!))),
    ).toBe("vms.0.disks");
    expect(refusedField((r) => (r.migrationUri = `qemu+tcp://${"h".repeat(HostReportLimits.textChars)}/system`))).toBe("migrationUri");
    expect(refusedField((r) => (r.capacity.cpus = HostReportLimits.cpus + 1))).toBe("capacity.cpus");
    expect(refusedField((r) => (r.bridges = Array.from({ length: HostReportLimits.hostBridges + 1 }, (_, i) => `br${i}`)))).toBe("bridges");
  });
});
