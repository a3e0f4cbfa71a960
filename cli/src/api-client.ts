// The only code of the CLI that speaks HTTP: node:http(s) to the scheduler's API (not fetch, whose
// CA cannot be set without undici). Every reply is validated with the zod schemas of
// @drover/protocol, so what `--json` prints is exactly the documented contract.
//
// With several schedulers (high availability) only the leader takes changes; a follower refuses
// them (409 not-leader) and every answer names the leader's API (`Drover-Leader-Api`). Given one or
// several URLs (`--api URL[,URL...]`), a read goes to the first that answers, and a change follows
// the leader's name to it; the CLI says on stderr which scheduler took a change when it was not the
// first URL given. A change is sent again elsewhere only when nothing of it reached a scheduler (the
// connection was refused, or a follower refused it), never after a timeout.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
import type { z } from "zod";
import { ApiError, isPlainHttpOffMachine, issuesOf, shownUrl } from "@drover/protocol";
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
  /** Told which scheduler took a change when it is not the first URL given (the CLI prints it on stderr). */
  note?: (message: string) => void;
  /** Sent as `Authorization: Bearer`; without one the API answers 401 (see api-auth.ts). */
  token?: string | undefined;
  /** PEM CA trusted for an https:// API, besides the system's. */
  ca?: Buffer | undefined;
  /** Allow plain http:// to another machine (the token then crosses the network in clear). */
  insecure?: boolean | undefined;
}

const TLS_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|EPROTO/;
/** Failures before a request reached any scheduler: another may be asked, even for a change. */
const NOT_SENT = /^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/;
/** The header every answer of a scheduler with leadership on names the leader's API with. */
export const LEADER_API_HEADER = "drover-leader-api";

type Reply = { status: number; statusText: string; text: string; leaderApi: string | undefined };

/** One request; resolves with the status and body text, rejects on a network or TLS failure. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  ca: Buffer | undefined,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = { method, headers, timeout: timeoutMs, ...(ca ? { ca: [...rootCertificates, ca.toString("utf8")] } : {}) };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      const leader = res.headers[LEADER_API_HEADER];
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          text: Buffer.concat(chunks).toString("utf8"),
          leaderApi: typeof leader === "string" && leader !== "" ? leader : undefined,
        }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** What may be asked: a base URL of http(s), plain HTTP only to this machine unless `insecure`. */
function checkBase(base: string, insecure: boolean): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new CliError(`--api ${JSON.stringify(base)} is not a URL (e.g. http://127.0.0.1:7070)`, "usage", ExitCode.Usage);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new CliError(`--api ${base}: only http:// and https:// are supported`, "usage", ExitCode.Usage);
  if (!insecure && isPlainHttpOffMachine(base))
    throw new CliError(
      `--api ${shownUrl(base)}: plain HTTP to another machine would send the API token in clear; use https:// (the scheduler's http.tls), or set DROVER_API_INSECURE=1`,
      "usage",
      ExitCode.Usage,
    );
  return u.toString().replace(/\/+$/, "");
}

export class ApiClient {
  /** The first scheduler URL given. */
  readonly base: string;
  /** Every scheduler URL given, in order. */
  readonly bases: string[];
  /** The scheduler that answered the last call (the leader, after a change). */
  used: string;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly ca: Buffer | undefined;
  private readonly note: ((message: string) => void) | undefined;
  private readonly insecure: boolean;

  /** `base`: one URL, or several separated by commas (schedulers of one cluster). */
  constructor(base: string | string[], opts: ApiClientOptions = {}) {
    const list = (Array.isArray(base) ? base : base.split(",")).map((b) => b.trim()).filter((b) => b !== "");
    if (list.length === 0) throw new CliError(`--api ${JSON.stringify(String(base))} names no URL`, "usage", ExitCode.Usage);
    this.insecure = opts.insecure === true;
    this.bases = [...new Set(list.map((b) => checkBase(b, this.insecure)))];
    this.base = this.bases[0]!;
    this.used = this.base;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.token = opts.token;
    this.ca = opts.ca;
    this.note = opts.note;
  }

  get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return this.call("GET", path, undefined, schema);
  }

  post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    return this.call("POST", path, body, schema);
  }

  async call<S extends z.ZodType>(method: "GET" | "POST", path: string, body: unknown, schema: S): Promise<z.output<S>> {
    const request = `${method} ${path}`;
    const res = await this.reach(method, path, body);
    if (method !== "GET" && this.used !== this.base && res.status < 300) this.note?.(`sent to the leading scheduler at ${this.used}`);
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

  /**
   * Sends to the schedulers in turn, starting with the one that answered last: the next when one
   * cannot be reached (a read: for any failure; a change: only when it was not sent), and when a
   * follower refuses a change, the leader it names first. When none takes it, the last refusal is
   * the answer, or the last failure is thrown.
   */
  private async reach(method: "GET" | "POST", path: string, body: unknown): Promise<Reply> {
    const todo = [this.used, ...this.bases.filter((b) => b !== this.used)];
    const tried = new Set<string>();
    let failure: unknown;
    let refused: { base: string; res: Reply } | undefined;
    for (let base = todo.shift(); base !== undefined; base = todo.shift()) {
      if (tried.has(base)) continue;
      tried.add(base);
      let res: Reply;
      try {
        res = await this.sendTo(base, method, path, body);
      } catch (e) {
        failure = e;
        const sent = !NOT_SENT.test(((e as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? "");
        if (e instanceof UnreachableError && (method === "GET" || !sent)) continue;
        throw e;
      }
      if (res.status === 409 && notLeader(res.text)) {
        refused = { base, res };
        const leader = res.leaderApi && checkLeader(res.leaderApi, this.insecure);
        if (leader) todo.unshift(leader);
        continue;
      }
      this.used = base;
      return res;
    }
    if (refused) {
      this.used = refused.base;
      return refused.res;
    }
    if (failure instanceof UnreachableError && tried.size > 1) throw new UnreachableError([...tried].join(", "), failure.cause);
    throw failure;
  }

  private async sendTo(base: string, method: string, path: string, body: unknown): Promise<Reply> {
    const headers: Record<string, string> = {
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    };
    try {
      return await send(
        new URL(`${base}${path}`),
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
          `TLS to ${base} failed (${(e as Error).message}); if the scheduler's certificate comes from your own CA, pass --ca-file FILE or set DROVER_CA_FILE`,
          "tls",
          ExitCode.Unreachable,
          { cause: e },
        );
      throw new UnreachableError(base, e);
    }
  }
}

/** A leader URL from a header: used only when it is one the CLI may ask (`checkBase`). */
function checkLeader(url: string, insecure: boolean): string | undefined {
  try {
    return checkBase(url, insecure);
  } catch {
    return undefined;
  }
}

function notLeader(text: string): boolean {
  try {
    return ApiError.safeParse(JSON.parse(text)).data?.error.code === "not-leader";
  } catch {
    return false;
  }
}
