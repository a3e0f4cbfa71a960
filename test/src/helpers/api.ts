// HTTP API and CLI calls from the tests: only the public entry points.
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { z } from "zod";
import { promisify } from "node:util";
import { REFUSED_PORT } from "@drover/bus/testing";
import { REPO_ROOT } from "./drover-lab.js";

// Paths are joined when called: drover-lab.ts imports this module, and REPO_ROOT is its binding.
const schedulerBin = () => join(REPO_ROOT, "scheduler", "bin", "drover-scheduler.js");
/** An API address where nothing answers for as long as a test runs (not a freed port: see REFUSED_PORT). */
export const REFUSED_API = `http://127.0.0.1:${REFUSED_PORT}`;

/** The token http() and drover() send to each API (by its URL). */
const tokens = new Map<string, string>();

/**
 * Makes an admin token the way an operator makes the first one (drover-scheduler token create on
 * the scheduler's config) and uses it for `api` from then on.
 */
export async function useAdminToken(api: string, schedulerConfig: string, name = "e2e"): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [schedulerBin(), "token", "create", "--config", schedulerConfig, "--role", "admin", "--name", name],
    { cwd: REPO_ROOT, timeout: 120_000 },
  );
  const token = stdout.trim();
  tokens.set(api, token);
  return token;
}

const auth = (api: string): Record<string, string> => {
  const t = tokens.get(api);
  return t ? { authorization: `Bearer ${t}` } : {};
};

export interface Reply {
  status: number;
  body: unknown;
}

export async function http(api: string, method: "GET" | "POST", path: string, body?: unknown, raw?: string): Promise<Reply> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { ...auth(api), ...(body !== undefined || raw !== undefined ? { "content-type": "application/json" } : {}) },
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

const droverBin = () => join(REPO_ROOT, "cli", "bin", "drover.js");

export function drover(api: string | null, args: string[], timeoutMs = 300_000, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [droverBin(), ...(api ? ["--api", api] : []), ...args],
      {
        cwd: REPO_ROOT,
        timeout: timeoutMs,
        // No token from the machine running the tests: only the one made for this API, or the lab's.
        env: {
          ...process.env,
          DROVER_API: "",
          DROVER_LAB_DIR: "/nonexistent-drover-lab",
          DROVER_TOKEN: (api && tokens.get(api)) || "",
          DROVER_TOKEN_FILE: "",
          XDG_CONFIG_HOME: "/nonexistent-drover-config",
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
