// HTTP API and CLI calls from the tests: only the public entry points.
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { z } from "zod";
import { REPO_ROOT } from "./drover-lab.js";

export interface Reply {
  status: number;
  body: unknown;
}

export async function http(api: string, method: "GET" | "POST", path: string, body?: unknown, raw?: string): Promise<Reply> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: body !== undefined || raw !== undefined ? { "content-type": "application/json" } : {},
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Left as text: the assertion shows it.
  }
  return { status: res.status, body: parsed };
}

/** GET/POST expecting 2xx, validated by the protocol schema the CLI uses too. */
export async function call<S extends z.ZodType>(
  api: string,
  method: "GET" | "POST",
  path: string,
  schema: S,
  body?: unknown,
): Promise<z.output<S>> {
  const r = await http(api, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path} -> ${r.status}: ${JSON.stringify(r.body)}`);
  return schema.parse(r.body);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const DROVER = join(REPO_ROOT, "cli", "bin", "drover.js");

export function drover(api: string | null, args: string[], timeoutMs = 300_000, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DROVER, ...(api ? ["--api", api] : []), ...args],
      { cwd: REPO_ROOT, timeout: timeoutMs, env: { ...process.env, DROVER_API: "", DROVER_LAB_DIR: "/nonexistent-drover-lab", ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
