// A call-worker thread: runs one libvirt op at a time, synchronously, on its own OS thread.
import { parentPort } from "node:worker_threads";
import { NativeCallError } from "./last-error.js";
import type { OpName } from "./ops.js";
import { ops } from "./ops.js";

export interface CallRequest {
  id: number;
  op: OpName;
  args: unknown[];
}
export type CallReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; libvirt?: { call: string; info: NativeCallError["info"] }; message: string };

const port = parentPort;
if (port === null) throw new Error("call-worker must run in a worker thread");

port.on("message", (req: CallRequest) => {
  let reply: CallReply;
  try {
    const fn = ops[req.op] as (...a: unknown[]) => unknown;
    reply = { id: req.id, ok: true, value: fn(...req.args) };
  } catch (e) {
    reply =
      e instanceof NativeCallError
        ? { id: req.id, ok: false, libvirt: { call: e.call, info: e.info }, message: e.message }
        : { id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
