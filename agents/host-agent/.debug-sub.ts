import { Bus } from "@drover/bus";
import { HostReport, HostEvent, silentLogger, subjects } from "@drover/protocol";
const bus = await Bus.connect({ servers: ["nats://127.0.21.254:4222"], name: "dbg", logger: silentLogger });
bus.subscribe(subjects.allHostReports("lab"), HostReport, (r) => console.log(r.host, r.seq, r.libvirt.reachable, r.libvirt.lastError?.message ?? "", r.vms.map((v) => `${v.name}:${v.cpuUsedVcpus}`).join(",")));
bus.subscribe(subjects.allHostEvents("lab"), HostEvent, (e) => console.log("EVENT", e.host, e.kind, e.detail));
setTimeout(() => void bus.close(), Number(process.argv[2] ?? 5000));
