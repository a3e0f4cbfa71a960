// The process must end promptly: libvirt's event loop thread is stopped before Node's exit waits for it.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const child = fileURLToPath(new URL("./fixtures/exit-child.ts", import.meta.url));
const pkg = fileURLToPath(new URL("..", import.meta.url));

function run(mode: string): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", child, mode], { cwd: pkg, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`child (${mode}) did not exit within 15 s; output: ${out}`));
    }, 15_000);
    p.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

describe("process exit", () => {
  for (const mode of ["close", "forget", "exit"]) {
    it(`exits cleanly after using events (${mode})`, async () => {
      const r = await run(mode);
      expect(r.out).toBe("events 2\n");
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(10_000);
    });
  }
});
