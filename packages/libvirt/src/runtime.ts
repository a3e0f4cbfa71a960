// The process-wide pieces every Connection shares: the call-worker pool and the event loop.
import { EventLoop } from "./event-loop.js";
import { CallPool } from "./pool.js";

// One thread kept warm, for the periodic calls an agent makes one after another. A call that
// finds it busy (a migrateToUri3 blocks its thread for the whole migration; jobStats, abort and
// setMaxDowntime then run beside it) gets a thread of its own, up to 8. Those end after 15 s idle:
// each costs ~10 MB while it lives, and starting one from the compiled worker bundle takes tens
// of milliseconds, so a long keep-alive buys nothing an agent sampling every few seconds needs.
export const pool = new CallPool({ maxThreads: 8, minThreads: 1, idleMs: 15_000 });
export const eventLoop = new EventLoop();
