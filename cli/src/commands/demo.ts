import type { Command } from "commander";
import { usageError } from "../errors.js";
import { runDemo } from "../demo/scenario.js";

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("start a lab cluster and show Drover at work, narrated (and live at the dashboard URL it prints); leaves nothing running")
    .option("--net <octet>", "third octet of the demo lab's addresses 127.0.<net>.x", "90")
    .option("--state-dir <dir>", "lab state dir (default: a fresh temp dir, removed at the end)")
    .option("--keep", "leave the lab running at the end, to look at the dashboard; it prints how to stop it")
    .action(async (o: { net: string; stateDir?: string; keep?: boolean }) => {
      const net = Number(o.net);
      if (!/^\d+$/.test(o.net) || net < 1 || net > 253) throw usageError(`--net must be an integer 1..253, not ${JSON.stringify(o.net)}`);
      await runDemo(
        { net, ...(o.stateDir ? { stateDir: o.stateDir } : {}), ...(o.keep ? { keep: true } : {}) },
        new AbortController().signal,
      );
    });
}
