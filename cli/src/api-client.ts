// The only code of the CLI that speaks HTTP: Node's fetch (undici) to the scheduler's API. Every
// reply is validated with the zod schemas of @drover/protocol, so what `--json` prints is exactly
// the documented contract.
import type { z } from "zod";
import { ApiError, issuesOf } from "@drover/protocol";
import { CliError, ExitCode } from "./errors.js";

/** The API answered with an error status; carries what the API said. */
export class ApiCallError extends CliError {
  override readonly name = "ApiCallError";
  constructor(
    readonly status: number,
    readonly apiCode: string,
    readonly apiMessage: string,
    readonly issues: { field: string; message: string }[],
    readonly request: string,
  ) {
    const detail =
      issues.length > 0 && !issues.every((i) => apiMessage.includes(i.message))
        ? ` (${issues.map((i) => `${i.field}: ${i.message}`).join("; ")})`
        : "";
    super(`${request}: the API answered ${status} ${apiCode}: ${apiMessage}${detail}`, apiCode, ExitCode.Failed);
  }
}

export class UnreachableError extends CliError {
  override readonly name = "UnreachableError";
  constructor(base: string, cause: unknown) {
    const why = cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
    super(
      `cannot reach the scheduler at ${base} (${why}); is it running? (set --api URL or DROVER_API, or start a lab: drover lab up)`,
      "unreachable",
      ExitCode.Unreachable,
      { cause },
    );
  }
}

export interface ApiClientOptions {
  /** Per request (default 15 s). */
  timeoutMs?: number;
}

export class ApiClient {
  readonly base: string;
  private readonly timeoutMs: number;

  constructor(base: string, opts: ApiClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      throw new CliError(`--api ${JSON.stringify(base)} is not a URL (e.g. http://127.0.0.1:7070)`, "usage", ExitCode.Usage);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new CliError(`--api ${base}: only http:// and https:// are supported`, "usage", ExitCode.Usage);
    this.base = u.toString().replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return this.call("GET", path, undefined, schema);
  }

  post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    return this.call("POST", path, body, schema);
  }

  async call<S extends z.ZodType>(method: "GET" | "POST", path: string, body: unknown, schema: S): Promise<z.output<S>> {
    const request = `${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new UnreachableError(this.base, e);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new CliError(`${request}: the API answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, "bad-reply");
    }
    if (!res.ok) {
      const err = ApiError.safeParse(data);
      if (err.success) throw new ApiCallError(res.status, err.data.error.code, err.data.error.message, err.data.error.issues, request);
      throw new ApiCallError(res.status, "error", text.slice(0, 500) || res.statusText, [], request);
    }
    const r = schema.safeParse(data);
    if (!r.success) {
      const issues = issuesOf(r.error)
        .map((i) => `${i.field}: ${i.message}`)
        .join("; ");
      throw new CliError(
        `${request}: the API's reply does not match the protocol schema (${issues}); are the CLI and the scheduler the same version?`,
        "bad-reply",
      );
    }
    return r.data;
  }
}
