import { LabHost } from "@drover/lab";
const h = await LabHost.load(process.argv[2] as string);
await h.start();
console.log("started", h.libvirtdPid);
