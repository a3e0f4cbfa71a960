// Progress on stderr (stdout stays clean for --json): a bar on a terminal, one line per change otherwise.
import cliProgress from "cli-progress";

export interface Progress {
  update(fraction: number, label: string): void;
  stop(): void;
}

export function progress(title: string, quiet = false): Progress {
  if (quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {percentage}% {label}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(100, 0, { label: "" });
    return {
      update: (f, label) => bar.update(Math.round(Math.min(1, Math.max(0, f)) * 100), { label }),
      stop: () => bar.stop(),
    };
  }
  let last = "";
  return {
    update(f, label) {
      const line = `${title}: ${Math.round(f * 100)}% ${label}`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
    },
    stop() {},
  };
}
