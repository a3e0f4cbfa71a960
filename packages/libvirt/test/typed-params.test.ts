// Marshalling through libvirt's own virTypedParamsAdd* and back through our reader, in-process.
import { describe, expect, it } from "vitest";
import { migrateParamsToTyped } from "../src/index.js";
import { readTypedParams, withTypedParams } from "../src/native/typed-params.js";

describe("typed parameters", () => {
  it("round-trips migrate params through libvirt-allocated virTypedParameter arrays", () => {
    const typed = migrateParamsToTyped({
      uri: "tcp://127.0.1.2:49152",
      destXml: "<domain/>",
      bandwidthMiBs: 2 ** 40,
      migrateDisks: ["vda", "sdb"],
      autoConvergeInitial: 30,
      disksPort: 49200,
    });
    const back = withTypedParams(typed, (p, n) => readTypedParams(p, n));
    expect(back).toEqual(typed.map((e) => [e.name, e.value]));
  });

  it("reports libvirt's refusal of a bad parameter as a libvirt error", () => {
    const tooLong = "x".repeat(100); // VIR_TYPED_PARAM_FIELD_LENGTH is 80
    expect(() => withTypedParams([{ name: tooLong, type: "int", value: 1 }], () => 0)).toThrow(/virTypedParamsAdd/);
  });

  it("reads nothing from an empty array", () => {
    expect(withTypedParams([], (p, n) => readTypedParams(p, n))).toEqual([]);
  });
});
