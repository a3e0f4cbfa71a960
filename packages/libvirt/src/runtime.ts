// The process-wide pieces every Connection shares: the call-worker pool and the event loop.
import { EventLoop } from "./event-loop.js";
import { CallPool } from "./pool.js";

// Three warm threads: a migration blocks one while a jobStats poll and a stats sample run on the
// others. Extra threads live a minute, so an agent sampling every few seconds does not pay the
// thread start-up (koffi + libvirt + TS loader: 0.2 s idle, seconds on a loaded machine) each time.
export const pool = new CallPool({ maxThreads: 8, minThreads: 3, idleMs: 60_000 });
export const eventLoop = new EventLoop();
