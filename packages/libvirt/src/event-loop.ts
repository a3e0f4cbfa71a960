// Main-thread side of libvirt's event loop thread (see native/event-worker.ts). It runs while at
// least one Connection is open, and is stopped before the process exits: a thread blocked in
// poll() inside libvirt would otherwise keep Node from ever finishing its exit.
import { MessageChannel, Worker } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { LibvirtError, LibvirtStateError } from "./errors.js";
import { virt } from "./native/bindings.js";
import type { LoopCommand, LoopMessage } from "./native/event-worker.js";
import { workerSpec } from "./worker-entry.js";

export type LoopEvent = Exclude<LoopMessage, { type: "ready" | "reply" | "stopped" | "loop-error" }>;

interface Running {
  worker: Worker;
  port: MessagePort;
  timerId: number;
  stop: Int32Array;
  stopped: Promise<void>;
}

let implRegistered = false;

export class EventLoop {
  private running: Running | null = null;
  private users = 0;
  private lifecycle: Promise<void> = Promise.resolve();
  private readonly replies = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<number, (e: LoopEvent) => void>();
  private nextId = 1;
  private exitHook = false;

  /** Called with a libvirt loop failure (rare: the loop keeps running). */
  onLoopError: (message: string) => void = () => {};

  /** Starts the loop if it is not running; each acquire() needs one release(). */
  acquire(): Promise<void> {
    this.users++;
    return this.serial(async () => {
      if (this.running === null) this.running = await this.start();
    }).catch((e: unknown) => {
      this.users--;
      throw e;
    });
  }

  release(): Promise<void> {
    this.users--;
    return this.serial(async () => {
      if (this.users === 0 && this.running !== null) {
        const r = this.running;
        this.running = null;
        await this.stop(r);
      }
    });
  }

  /** Routes this connection's events to `listener` and registers libvirt callbacks for them. */
  async watch(conn: number, listener: (e: LoopEvent) => void): Promise<void> {
    this.listeners.set(conn, listener);
    try {
      await this.command("watch", conn);
    } catch (e) {
      this.listeners.delete(conn);
      throw e;
    }
  }

  async unwatch(conn: number): Promise<void> {
    try {
      await this.command("unwatch", conn);
    } finally {
      this.listeners.delete(conn);
    }
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(fn);
    this.lifecycle = next.catch(() => {});
    return next;
  }

  private command(type: LoopCommand["type"], conn: number): Promise<void> {
    const r = this.running;
    if (r === null) return Promise.reject(new LibvirtStateError("connection-closed", "libvirt event loop is not running"));
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => this.replies.set(id, { resolve, reject }));
    r.port.ref(); // an awaited reply keeps the process alive until it arrives
    r.port.postMessage({ id, type, conn } satisfies LoopCommand);
    virt.virEventUpdateTimeout(r.timerId, 0); // wake poll() so the command is read now
    return done;
  }

  private start(): Promise<Running> {
    if (!implRegistered) {
      // Once per process, before any connection is opened (keepalive needs it).
      if (virt.virEventRegisterDefaultImpl() < 0) throw new Error("virEventRegisterDefaultImpl failed");
      implRegistered = true;
    }
    if (!this.exitHook) {
      this.exitHook = true;
      // Node terminates workers right after "exit" handlers; a loop thread woken then would run
      // its timer callback in a dying isolate (a fatal error). So the loop is stopped here, and
      // this waits (bounded) until the thread has left libvirt and deregistered its callbacks.
      process.once("exit", () => {
        const r = this.running;
        if (r !== null) {
          Atomics.store(r.stop, 0, 1);
          virt.virEventUpdateTimeout(r.timerId, 0);
          Atomics.wait(r.stop, 1, 0, 3000);
        }
      });
    }
    const { port1, port2 } = new MessageChannel();
    // [0]: stop requested, [1]: the loop thread has stopped.
    const stop = new Int32Array(new SharedArrayBuffer(8));
    const { url, options } = workerSpec("event-worker", { workerData: { port: port2, stop: stop.buffer }, transferList: [port2] });
    const worker = new Worker(url, options);
    return new Promise<Running>((resolve, reject) => {
      let stoppedResolve = (): void => {};
      const stopped = new Promise<void>((res) => (stoppedResolve = res));
      worker.once("error", reject);
      worker.once("exit", () => {
        stoppedResolve();
        reject(new Error("libvirt event loop thread exited before it was ready"));
        // After a crash nothing answers: fail what waits, and let the next acquire() start anew.
        if (this.running?.worker === worker) this.running = null;
        for (const w of this.replies.values()) w.reject(new LibvirtStateError("worker-failed", "libvirt event loop thread exited"));
        this.replies.clear();
      });
      port1.on("message", (m: LoopMessage) => {
        switch (m.type) {
          case "ready":
            // Open connections must not keep the process alive by themselves; the exit hook stops the loop.
            worker.unref();
            resolve({ worker, port: port1, timerId: m.timerId, stop, stopped });
            break;
          case "reply": {
            const waiter = this.replies.get(m.id);
            this.replies.delete(m.id);
            if (this.replies.size === 0) port1.unref();
            if (m.ok) waiter?.resolve();
            else waiter?.reject(m.libvirt ? new LibvirtError(m.libvirt.call, m.libvirt.info) : new Error(m.message));
            break;
          }
          case "loop-error":
            this.onLoopError(m.message);
            break;
          case "stopped":
            break;
          default:
            this.listeners.get(m.conn)?.(m);
        }
      });
      port1.unref();
    });
  }

  private async stop(r: Running): Promise<void> {
    r.worker.ref();
    Atomics.store(r.stop, 0, 1);
    virt.virEventUpdateTimeout(r.timerId, 0);
    await r.stopped;
    r.port.close();
    for (const w of this.replies.values()) w.reject(new LibvirtStateError("connection-closed", "libvirt event loop stopped"));
    this.replies.clear();
  }
}
