// Main-thread side of the call-worker pool.
//
// Why worker_threads and not koffi's fn.async(): libvirt reports errors in thread-local storage,
// and koffi's async calls run on a koffi-owned thread pool, so the virGetLastError() that must
// follow a failed call could land on another thread. A Node worker runs a whole op (call, error
// read, decoding, frees) synchronously on one OS thread, so the error always belongs to the call.
// Why a pool and not one worker per connection: a migration blocks its thread for minutes while
// jobStats/abort/setMaxDowntime on the same connection must still run (libvirt connections are
// thread-safe), so the pool grows on demand and every blocking call gets a thread of its own.
import { Worker } from "node:worker_threads";
import { LibvirtError, LibvirtStateError } from "./errors.js";
import type { CallReply, CallRequest } from "./native/call-worker.js";
import type { OpName, Ops } from "./native/ops.js";
import { workerSpec } from "./worker-entry.js";

interface Pending {
  req: CallRequest;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}
interface Slot {
  worker: Worker;
  busy: Pending | null;
  idleTimer: NodeJS.Timeout | null;
}

export interface PoolOptions {
  /** Most threads running libvirt calls at once; further calls queue. */
  maxThreads: number;
  /** Threads kept once the pool is used, however long they idle. */
  minThreads: number;
  /** Idle threads beyond minThreads are ended after this long. */
  idleMs: number;
}

export class CallPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Pending[] = [];
  private nextId = 1;

  constructor(private readonly opts: PoolOptions) {}

  get threads(): number {
    return this.slots.size;
  }

  call<K extends OpName>(op: K, ...args: Parameters<Ops[K]>): Promise<ReturnType<Ops[K]>> {
    return new Promise((resolve, reject) => {
      const p: Pending = { req: { id: this.nextId++, op, args }, resolve: resolve as (v: unknown) => void, reject };
      const slot = this.idleSlot() ?? (this.slots.size < this.opts.maxThreads ? this.spawn() : null);
      if (slot === null) this.queue.push(p);
      else this.run(slot, p);
      while (this.slots.size < this.opts.minThreads) this.park(this.spawn());
    });
  }

  /** Ends every idle thread now (busy ones end when their call returns). */
  async drain(): Promise<void> {
    await Promise.all([...this.slots].filter((s) => s.busy === null).map((s) => this.retire(s)));
  }

  private idleSlot(): Slot | null {
    for (const s of this.slots) if (s.busy === null) return s;
    return null;
  }

  private spawn(): Slot {
    const { url, options } = workerSpec("call-worker");
    const worker = new Worker(url, options);
    const slot: Slot = { worker, busy: null, idleTimer: null };
    worker.on("message", (reply: CallReply) => this.onReply(slot, reply));
    worker.on("error", (e) => this.onDeath(slot, e));
    worker.on("exit", (code) => this.onDeath(slot, new Error(`libvirt worker thread exited (${code})`)));
    this.slots.add(slot);
    return slot;
  }

  private run(slot: Slot, p: Pending): void {
    if (slot.idleTimer !== null) clearTimeout(slot.idleTimer);
    slot.idleTimer = null;
    slot.busy = p;
    slot.worker.ref(); // a call in flight keeps the process alive, an idle thread does not
    slot.worker.postMessage(p.req);
  }

  private onReply(slot: Slot, reply: CallReply): void {
    const p = slot.busy;
    slot.busy = null;
    if (p !== null && p.req.id === reply.id) {
      if (reply.ok) p.resolve(reply.value);
      else if (reply.libvirt !== undefined) p.reject(new LibvirtError(reply.libvirt.call, reply.libvirt.info));
      else p.reject(new LibvirtStateError("worker-failed", `libvirt op ${p.req.op} failed: ${reply.message}`));
    }
    const next = this.queue.shift();
    if (next !== undefined) return this.run(slot, next);
    this.park(slot);
  }

  private park(slot: Slot): void {
    slot.worker.unref();
    if (this.slots.size > this.opts.minThreads) {
      slot.idleTimer = setTimeout(() => void this.retire(slot), this.opts.idleMs);
      slot.idleTimer.unref();
    }
  }

  private onDeath(slot: Slot, e: Error): void {
    if (!this.slots.delete(slot)) return;
    if (slot.idleTimer !== null) clearTimeout(slot.idleTimer);
    const p = slot.busy;
    slot.busy = null;
    p?.reject(new LibvirtStateError("worker-failed", `libvirt worker thread died during ${p.req.op}: ${e.message}`, { cause: e }));
    // Queued calls still need a thread.
    const next = this.queue.shift();
    if (next !== undefined) this.run(this.spawn(), next);
  }

  private async retire(slot: Slot): Promise<void> {
    if (slot.busy !== null || !this.slots.delete(slot)) return;
    if (slot.idleTimer !== null) clearTimeout(slot.idleTimer);
    await slot.worker.terminate();
  }
}
