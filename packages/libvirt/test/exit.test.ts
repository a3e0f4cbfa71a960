// The process must end promptly: libvirt's event loop thread is stopped before Node's exit waits for it.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const child = fileURLToPath(new URL("./fixtures/exit-child.ts", import.meta.url));
const pkg = fileURLToPath(new URL("..", import.meta.url));

/** Runs the child; `exitMs` is from the child's last output (its work done) to its exit, so a
 * slow start on a loaded machine does not count. */
function run(mode: string): Promise<{ code: number | null; out: string; exitMs: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", child, mode], { cwd: pkg, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let doneAt = Date.now();
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      doneAt = Date.now();
    });
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`child (${mode}) did not exit within 60 s; output: ${out}`));
    }, 60_000);
    p.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, out, exitMs: Date.now() - doneAt });
    });
  });
}

describe("process exit", () => {
  for (const mode of ["close", "forget", "exit"]) {
    it(`exits cleanly after using events (${mode})`, { timeout: 90_000 }, async () => {
      const r = await run(mode);
      expect(r.out).toBe("events 2\n");
      expect(r.code).toBe(0);
      expect(r.exitMs).toBeLessThan(5_000);
    });
  }
});
