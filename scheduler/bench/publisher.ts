// Child process of the scheduler bench: publishes pre-encoded host reports through the real
// nats-server, as separate agent processes would, so the scheduler's process spends its CPU on
// ingesting only. Paced by credit from the parent (at most `window` reports in flight), so the
// rate is sustained, not a burst that would only measure nats-server's slow-consumer limit
// (the window is also capped at 16 MB of reports).
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
const MAX_WINDOW = Number(a.window);
if (!a.url || !(HOSTS > 0) || !(VMS > 0) || !(MAX_WINDOW > 0) || !process.send)
  throw new Error("publisher: run by scheduler/bench/scheduler.ts (--url --hosts --vms over IPC)");
const send = (m: object) => process.send!(m);

const te = new TextEncoder();
const now = Date.now();
const wire = Array.from({ length: HOSTS }, (_, h) => {
  const host = `kvm${h}`;
  const vms = Array.from({ length: VMS }, (_, i) => ({ uuid: uuid(h * 1000 + i + 1), name: `vm-${h}-${i}` }));
  return { subject: subjects.hostReport(CLUSTER, host), data: te.encode(JSON.stringify(HostReport.parse(report(host, vms, now)))) };
});
// In bytes too: nats-server cuts off a subscriber with more than 64 MB pending (slow consumer).
const WINDOW = Math.max(50, Math.min(MAX_WINDOW, Math.floor(16e6 / wire[0]!.data.length)));
const bus = await Bus.connect({ servers: [a.url], name: "bench publisher", logger: silentLogger });
const nc = bus.nc;

let seen = 0;
let target = 0;
let sent = 0;
let lost = 0;
let progressAt = Date.now();
let wake: (() => void) | undefined;
process.on("message", (m: { go?: number; seen?: number; stop?: boolean }) => {
  if (m.seen !== undefined && m.seen !== seen) [seen, progressAt] = [m.seen, Date.now()];
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
    // Reports the scheduler never got (cut off as a slow consumer) would hold the credit forever.
    if (Date.now() - progressAt > 5000) [lost, progressAt] = [sent - seen, Date.now()];
    while (sent < target && sent - lost - seen < WINDOW) {
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
