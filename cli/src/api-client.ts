// The only code of the CLI that speaks HTTP: node:http(s) to the scheduler's API (not fetch, whose
// CA cannot be set without undici). Every reply is validated with the zod schemas of
// @drover/protocol, so what `--json` prints is exactly the documented contract.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
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
  /** Sent as `Authorization: Bearer`; without one the API answers 401 (see api-auth.ts). */
  token?: string | undefined;
  /** PEM CA trusted for an https:// API, besides the system's. */
  ca?: Buffer | undefined;
}

const TLS_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|EPROTO/;

/** One request; resolves with the status and body text, rejects on a network or TLS failure. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  ca: Buffer | undefined,
): Promise<{ status: number; statusText: string; text: string }> {
  return new Promise((resolve, reject) => {
    const opts = { method, headers, timeout: timeoutMs, ...(ca ? { ca: [...rootCertificates, ca.toString("utf8")] } : {}) };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "", text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

export class ApiClient {
  readonly base: string;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly ca: Buffer | undefined;

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
    this.token = opts.token;
    this.ca = opts.ca;
  }

  get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return this.call("GET", path, undefined, schema);
  }

  post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    return this.call("POST", path, body, schema);
  }

  async call<S extends z.ZodType>(method: "GET" | "POST", path: string, body: unknown, schema: S): Promise<z.output<S>> {
    const request = `${method} ${path}`;
    const headers: Record<string, string> = {
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    };
    let res: { status: number; statusText: string; text: string };
    try {
      res = await send(
        new URL(`${this.base}${path}`),
        method,
        headers,
        body === undefined ? undefined : JSON.stringify(body),
        this.timeoutMs,
        this.ca,
      );
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      if (TLS_ERRORS.test(code))
        throw new CliError(
          `TLS to ${this.base} failed (${(e as Error).message}); if the scheduler's certificate comes from your own CA, pass --ca-file FILE or set DROVER_CA_FILE`,
          "tls",
          ExitCode.Unreachable,
          { cause: e },
        );
      throw new UnreachableError(this.base, e);
    }
    const ok = res.status >= 200 && res.status < 300;
    const text = res.text;
    let data: unknown;
    try {
      data = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new CliError(`${request}: the API answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, "bad-reply");
    }
    if (!ok) {
      const err = ApiError.safeParse(data);
      if (err.success && res.status === 401) {
        const how = this.token
          ? "the token was refused"
          : "no token found: set DROVER_TOKEN, or write it to ~/.config/drover/token (mode 600), or pass --token-file";
        throw new ApiCallError(res.status, err.data.error.code, `${err.data.error.message} (${how})`, [], request);
      }
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
