// The process-wide pieces every Connection shares: the call-worker pool and the event loop.
import { EventLoop } from "./event-loop.js";
import { CallPool } from "./pool.js";

export const pool = new CallPool({ maxThreads: 8, minThreads: 2, idleMs: 5_000 });
export const eventLoop = new EventLoop();
