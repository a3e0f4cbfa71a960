// Child process of the scheduler bench: publishes pre-encoded host reports through the real
// nats-server, as separate agent processes would, so the scheduler's process spends its CPU on
// ingesting only. Paced by credit from the parent (at most `window` reports in flight), so the
// rate is sustained, not a burst that would only measure nats-server's slow-consumer limit.
// Protocol (IPC): child -> {ready}; parent -> {go: n} (publish n more), {seen: k} (reports the
// scheduler has taken in since the start); child -> {done, cpuS} after each `go`.
import { parseArgs } from "node:util";
import { Bus } from "@drover/bus";
import { HostReport, silentLogger, subjects } from "@drover/protocol";
import { CLUSTER, report, uuid } from "../test/helpers.js";

const { values: a } = parseArgs({
  options: { url: { type: "string" }, hosts: { type: "string" }, vms: { type: "string" }, window: { type: "string", default: "4000" } },
});
const HOSTS = Number(a.hosts);
const VMS = Number(a.vms);
const WINDOW = Number(a.window);
if (!a.url || !(HOSTS > 0) || !(VMS > 0) || !(WINDOW > 0) || !process.send) throw new Error("publisher: run by scheduler/bench/scheduler.ts (--url --hosts --vms over IPC)");
const send = (m: object) => process.send!(m);

const te = new TextEncoder();
const now = Date.now();
const wire = Array.from({ length: HOSTS }, (_, h) => {
  const host = `kvm${h}`;
  const vms = Array.from({ length: VMS }, (_, i) => ({ uuid: uuid(h * 1000 + i + 1), name: `vm-${h}-${i}` }));
  return { subject: subjects.hostReport(CLUSTER, host), data: te.encode(JSON.stringify(HostReport.parse(report(host, vms, now)))) };
});
const bus = await Bus.connect({ servers: [a.url], name: "bench publisher", logger: silentLogger });
const nc = bus.nc;

let seen = 0;
let target = 0;
let sent = 0;
let wake: (() => void) | undefined;
process.on("message", (m: { go?: number; seen?: number; stop?: boolean }) => {
  if (m.seen !== undefined) seen = m.seen;
  if (m.go !== undefined) target += m.go;
  if (m.stop) void bus.close().then(() => process.exit(0));
  wake?.();
});
const more = () => new Promise<void>((r) => (wake = r));

send({ ready: true, bytes: wire[0]!.data.length });
for (;;) {
  while (sent >= target) await more();
  const cpu0 = process.cpuUsage();
  while (sent < target) {
    while (sent < target && sent - seen < WINDOW) {
      const w = wire[sent % HOSTS]!;
      nc.publish(w.subject, w.data);
      sent++;
    }
    await more();
  }
  await nc.flush();
  const c = process.cpuUsage(cpu0);
  send({ done: sent, cpuS: (c.user + c.system) / 1e6 });
}
