// One error convention across the workspace: every package's error classes extend DroverError,
// carry a string `code` spelled one way (lower-case kebab, optionally `area.`-prefixed), name
// themselves, and keep the `cause` they were given. The errors.ts files are imported directly:
// they are light, and this test must not start libvirt, NATS or SQLite.
import { describe, expect, it } from "vitest";
import { DroverError, ValidationError } from "../src/index.js";
import * as agent from "../../../agents/host-agent/src/errors.js";
import * as bus from "../../bus/src/errors.js";
import * as cli from "../../../cli/src/errors.js";
import * as lab from "../../lab/src/errors.js";
import * as libvirt from "../../libvirt/src/errors.js";
import * as policy from "../../policy/src/errors.js";
import * as scheduler from "../../../scheduler/src/errors.js";
import { ConfigError as SchedulerConfigError } from "../../../scheduler/src/config.js";
import { WakeError } from "../../../scheduler/src/power/wake-drivers.js";
import { WolError } from "../../wol/src/index.js";
import * as sim from "../../sim/src/errors.js";
import * as store from "../../store/src/errors.js";

const cause = new Error("the root cause");
const opts = { cause };
const issues = [{ field: "host", message: "required" }];

/** One instance of every error class, each given `cause`. */
const made: Record<string, DroverError> = {
  ValidationError: new ValidationError("message", issues, opts),
  BusError: new bus.BusError(bus.BusErrorCode.Closed, "closed", opts),
  InvalidMessageError: new bus.InvalidMessageError("s", "receive", issues, opts),
  RequestTimeoutError: new bus.RequestTimeoutError("s", 10, opts),
  NoRespondersError: new bus.NoRespondersError("s", opts),
  RemoteError: new bus.RemoteError("s", "handler-failed", "boom", undefined, opts),
  RequestFailedError: new bus.RequestFailedError("s", opts),
  PublishFailedError: new bus.PublishFailedError("s", 3, opts),
  SubscribeDeniedError: new bus.SubscribeDeniedError("s", "is it yours?", opts),
  BusConnectError: new bus.BusConnectError(["nats://127.0.0.1:4222"], opts),
  BusClosedError: new bus.BusClosedError("publish", opts),
  InvalidOptionsError: new bus.InvalidOptionsError(issues, opts),
  JetStreamOpError: new bus.JetStreamOpError("kv put", opts),
  LibvirtError: new libvirt.LibvirtError("virDomainLookupByName", { code: 42, domain: 10, level: 2, message: "no domain" }, opts),
  LibvirtArgumentError: new libvirt.LibvirtArgumentError("bad flags", opts),
  LibvirtStateError: new libvirt.LibvirtStateError("connection-closed", "closed", opts),
  StoreError: new store.StoreError(store.StoreErrorCodes.NotFound, "no row", opts),
  PolicyInputError: new policy.PolicyInputError("config.x", "bad", opts),
  UnknownPolicyError: new policy.UnknownPolicyError("nope", ["spread"], opts),
  SimError: new sim.SimError(sim.SimErrorCode.badOption, "bad", opts),
  LabError: new lab.LabError(lab.LabErrorCode.Busy, "busy", opts),
  AgentError: new agent.AgentError(agent.AgentErrorCode.VmBusy, "busy", opts),
  ConfigError: new agent.ConfigError("bad config", ["host"], opts),
  CallTimeoutError: new agent.CallTimeoutError("slow", opts),
  DispatchError: new scheduler.DispatchError("unknown-vm", "no vm", "vm", opts),
  NotFoundError: new scheduler.NotFoundError("no host", "host", opts),
  RefusedError: new scheduler.RefusedError("mode-off", "off", undefined, opts),
  WakeError: new WakeError("config", "no mac", opts),
  "ConfigError@scheduler": new SchedulerConfigError("bad config", [], opts),
  WolError: new WolError("bad-mac", "not a MAC", opts),
  CliError: new cli.CliError("bad", "usage", cli.ExitCode.Usage, opts),
};

const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z][a-z0-9]*(-[a-z0-9]+)*)*$/;

describe("one error convention", () => {
  it.each(Object.entries(made))("%s is a DroverError with a kebab code, its name and its cause", (cls, e) => {
    expect(e).toBeInstanceOf(DroverError);
    expect(e).toBeInstanceOf(Error);
    expect(typeof e.code).toBe("string");
    expect(e.code).toMatch(KEBAB);
    // InvalidMessageError *is* protocol's ValidationError, by name too (bus README).
    // Two packages name a class ConfigError: the key is then "Name@package".
    expect(e.name).toBe(cls === "InvalidMessageError" ? "ValidationError" : cls.split("@")[0]);
    expect(e.cause).toBe(cause);
    expect(e.message.length).toBeGreaterThan(0);
  });

  it("covers every exported error class of every errors.ts", () => {
    const classes = [agent, bus, cli, lab, libvirt, policy, scheduler, sim, store]
      .flatMap((m) => Object.entries(m))
      .filter(([, v]) => typeof v === "function" && v.prototype instanceof Error)
      .map(([k]) => k);
    expect(classes.filter((k) => !(k in made))).toEqual([]);
  });

  it("every code in the code tables is spelled one way", () => {
    const codes = [agent.AgentErrorCode, bus.BusErrorCode, lab.LabErrorCode, sim.SimErrorCode, store.StoreErrorCodes].flatMap((t) =>
      Object.values(t),
    );
    expect(codes.filter((c) => !KEBAB.test(c))).toEqual([]);
  });

  it("keeps libvirt's virErrorNumber beside the code", () => {
    const e = made["LibvirtError"] as libvirt.LibvirtError;
    expect(e.libvirtCode).toBe(42);
    expect(e.code).toBe("libvirt.no-domain");
    const unnamed = new libvirt.LibvirtError("virFoo", { code: 1234, domain: 0, level: 2, message: "?" });
    expect(unnamed.code).toBe("libvirt.error-1234");
  });
});
