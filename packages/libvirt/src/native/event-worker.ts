// The event-loop thread: runs libvirt's default event loop (virEventRunDefaultImpl), which
// drives keepalive, timers and domain events. libvirt calls our callbacks on this thread, so they
// are created here (koffi runs a JS callback only on the thread that made it).
// The loop blocks in poll(); commands arrive on a MessagePort read synchronously between
// iterations, and the sender wakes the loop by arming our timer (virEventUpdateTimeout).
//
// No close callback (virConnectRegisterCloseCallback): libvirt calls it from whichever thread
// notices the dead socket, often a call-worker in the middle of an RPC. koffi then takes its
// fast path for "a callback during my own call" and runs this isolate's JS on that thread: the
// close went unreported and the process later died in V8's GC (SIGSEGV) when a daemon was killed
// during calls. A closed connection is found instead by polling virConnectIsAlive on this
// thread; a silent peer is closed by the keepalive (interval x count), so that ends up here too.
import type { MessagePort } from "node:worker_threads";
import { receiveMessageOnPort, workerData } from "node:worker_threads";
import { DomainEventId } from "../constants.js";
import { koffi, virt } from "./bindings.js";
import { check, NativeCallError } from "./last-error.js";
import { readTypedParams } from "./typed-params.js";
import type { TypedPair } from "./typed-params.js";

export type LoopCommand = { id: number; type: "watch" | "unwatch"; conn: number };
export type LoopMessage =
  | { type: "ready"; timerId: number }
  | { type: "reply"; id: number; ok: true }
  | { type: "reply"; id: number; ok: false; message: string; libvirt?: { call: string; info: NativeCallError["info"] } }
  | { type: "lifecycle"; conn: number; name: string; uuid: string; event: number; detail: number }
  | { type: "migration-iteration"; conn: number; name: string; uuid: string; iteration: number }
  | { type: "job-completed"; conn: number; name: string; uuid: string; params: TypedPair[] }
  | { type: "metadata-change"; conn: number; name: string; uuid: string; metadataType: number; nsuri: string | null }
  | { type: "close"; conn: number }
  | { type: "loop-error"; message: string }
  | { type: "stopped" };

const { port, stop } = workerData as { port: MessagePort; stop: SharedArrayBuffer };
const stopFlag = new Int32Array(stop);
const post = (m: LoopMessage): void => port.postMessage(m);

function domId(dom: number): { name: string; uuid: string } {
  const buf = Buffer.alloc(37);
  virt.virDomainGetUUIDString(dom, buf);
  return { name: virt.virDomainGetName(dom) ?? "", uuid: buf.toString("latin1", 0, 36) };
}

const TimeoutCb = koffi.proto("void drover_TimeoutCb(int timer, void *opaque)");
const LifecycleCb = koffi.proto("void drover_LifecycleCb(uintptr_t conn, uintptr_t dom, int event, int detail, void *opaque)");
const IterationCb = koffi.proto("void drover_IterationCb(uintptr_t conn, uintptr_t dom, int iteration, void *opaque)");
const JobCompletedCb = koffi.proto("void drover_JobCompletedCb(uintptr_t conn, uintptr_t dom, void *params, int nparams, void *opaque)");
const MetadataChangeCb = koffi.proto(
  "void drover_MetadataChangeCb(uintptr_t conn, uintptr_t dom, int type, const char *nsuri, void *opaque)",
);

// The timer only exists to wake poll(); once it fired, disarm it again.
const tick = koffi.register((timer: number) => virt.virEventUpdateTimeout(timer, -1), koffi.pointer(TimeoutCb));
const callbacks = {
  [DomainEventId.LIFECYCLE]: koffi.register(
    (conn: number, dom: number, event: number, detail: number) => post({ type: "lifecycle", conn, ...domId(dom), event, detail }),
    koffi.pointer(LifecycleCb),
  ),
  [DomainEventId.MIGRATION_ITERATION]: koffi.register(
    (conn: number, dom: number, iteration: number) => post({ type: "migration-iteration", conn, ...domId(dom), iteration }),
    koffi.pointer(IterationCb),
  ),
  [DomainEventId.JOB_COMPLETED]: koffi.register(
    (conn: number, dom: number, params: unknown, n: number) =>
      post({ type: "job-completed", conn, ...domId(dom), params: readTypedParams(params, n) }),
    koffi.pointer(JobCompletedCb),
  ),
  [DomainEventId.METADATA_CHANGE]: koffi.register(
    (conn: number, dom: number, metadataType: number, nsuri: string | null) =>
      post({ type: "metadata-change", conn, ...domId(dom), metadataType, nsuri }),
    koffi.pointer(MetadataChangeCb),
  ),
};
/** How often watched connections are checked for having closed. */
const ALIVE_CHECK_MS = 500;

/** Per connection: the domain-event callback ids, and whether its close was reported. */
const watched = new Map<number, { ids: number[]; closed: boolean }>();

/** Reports each watched connection that libvirt now calls dead (peer gone, keepalive, socket error), once. */
function checkAlive(): void {
  for (const [conn, w] of watched) {
    if (w.closed) continue;
    const alive = virt.virConnectIsAlive(conn);
    if (alive === 0) {
      w.closed = true;
      post({ type: "close", conn });
    } else if (alive < 0) virt.virResetLastError();
  }
}
const aliveTimer = koffi.register(() => checkAlive(), koffi.pointer(TimeoutCb));

function watch(conn: number): void {
  if (watched.has(conn)) return;
  const w = { ids: [] as number[], closed: false };
  try {
    for (const [eventId, cb] of Object.entries(callbacks)) {
      w.ids.push(
        check(virt.virConnectDomainEventRegisterAny(conn, 0, Number(eventId), cb, null, null), "virConnectDomainEventRegisterAny"),
      );
    }
  } catch (e) {
    for (const id of w.ids) virt.virConnectDomainEventDeregisterAny(conn, id);
    virt.virResetLastError();
    throw e;
  }
  watched.set(conn, w);
}

function unwatch(conn: number): void {
  const w = watched.get(conn);
  if (w === undefined) return;
  watched.delete(conn);
  for (const id of w.ids) virt.virConnectDomainEventDeregisterAny(conn, id);
  virt.virResetLastError(); // a dead connection may refuse; the registrations go with it
}

function drain(): void {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const cmd = m.message as LoopCommand;
    try {
      if (cmd.type === "watch") watch(cmd.conn);
      else unwatch(cmd.conn);
      post({ type: "reply", id: cmd.id, ok: true });
    } catch (e) {
      post(
        e instanceof NativeCallError
          ? { type: "reply", id: cmd.id, ok: false, message: e.message, libvirt: { call: e.call, info: e.info } }
          : { type: "reply", id: cmd.id, ok: false, message: String(e) },
      );
    }
  }
}

const timerId = check(virt.virEventAddTimeout(-1, tick, null, null), "virEventAddTimeout");
const aliveTimerId = check(virt.virEventAddTimeout(ALIVE_CHECK_MS, aliveTimer, null, null), "virEventAddTimeout");
post({ type: "ready", timerId });
while (Atomics.load(stopFlag, 0) === 0) {
  if (virt.virEventRunDefaultImpl() < 0) {
    post({ type: "loop-error", message: "virEventRunDefaultImpl failed" });
    virt.virResetLastError();
  }
  drain();
}
for (const conn of [...watched.keys()]) unwatch(conn);
virt.virEventRemoveTimeout(timerId);
virt.virEventRemoveTimeout(aliveTimerId);
koffi.unregister(tick);
koffi.unregister(aliveTimer);
for (const cb of Object.values(callbacks)) koffi.unregister(cb);
Atomics.store(stopFlag, 1, 1);
Atomics.notify(stopFlag, 1);
post({ type: "stopped" });
port.close();
