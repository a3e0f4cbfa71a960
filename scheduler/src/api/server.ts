// The HTTP API. Requests are validated with the zod schemas of @drover/protocol's api.ts (the same
// ones the CLI reads), which also document the routes in /openapi.json. Bad input gets a 4xx
// naming the field and changes nothing. Every route declares the role it needs (`config: { role }`,
// shown in the document as its `security`); every request carries a bearer token (tokens.ts).
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";
import {
  ApiError,
  ApiMaintenance,
  ApiMigration,
  ApiPlan,
  ApiPowerAction,
  DrainRequest,
  HistoryQuery,
  HistoryResponse,
  LoadHistoryQuery,
  LoadHistoryResponse,
  LoadReplayQuery,
  LoadReplayResponse,
  HostId,
  HostsResponse,
  Id,
  MigrateRequest,
  MigrationsResponse,
  ModeRequest,
  ModesResponse,
  ScheduleKinds,
  ScheduleRequest,
  SchedulesResponse,
  RunTimeModeKinds,
  PlanRequest,
  PlansResponse,
  PowerRequest,
  StatusResponse,
  VmsResponse,
  cannotRead,
  issuesOf,
  isLoopbackHost,
  DropLog,
  urlOf,
  ApiHost,
  ApiToken,
  TokenCreateRequest,
  TokenCreated,
  TokenName,
  TokensResponse,
  type ApiRole,
  type Logger,
} from "@drover/protocol";
import { PolicyInputError, UnknownPolicyError } from "@drover/policy";
import { StoreError } from "@drover/store";
import { ConfigError } from "../config.js";
import { DispatchError, NotFoundError, RefusedError } from "../errors.js";
import { planToApi } from "../planner.js";
import { loadReplay } from "../load-history-replay.js";
import type { SchedulerApi } from "./ports.js";
import { DashboardFeed } from "./dashboard.js";
import { AuthError, TokenInputError, grants } from "./tokens.js";
import { historyView, hostView, migrationView, powerView, vmsView } from "./views.js";
import { webRoutes } from "./web.js";

/** Largest request body (JSON), and longest request target; beyond them: 413 and 414 with the error body. */
export const BODY_LIMIT = 1_048_576;
export const URL_LIMIT = 8192;

/**
 * What a route's `config` must hold: the least role that may call it. "anyone" is only for the
 * dashboard's page and assets (web.ts), which hold no cluster data; such a route must be hidden
 * from the OpenAPI document, which lists only what a token opens.
 */
export interface RouteAuth {
  role: ApiRole | "anyone";
}
const viewer: RouteAuth = { role: "viewer" };
const operator: RouteAuth = { role: "operator" };
const admin: RouteAuth = { role: "admin" };

/** A change refused because it could not be recorded (every change is recorded before it is acted on). */
function storeUnwritable(reason: string | null): HttpError {
  return new HttpError(
    503,
    "store-unwritable",
    `the scheduler cannot record changes, so it makes none: ${reason ?? "its store refuses writes"}`,
  );
}

/** A refusal before the handler (size, encoding), with its status and error code. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

const errorBody = (code: string, message: string, issues: { field: string; message: string }[] = []) => ({
  error: { code, message, issues },
});

class BadRequest extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid request: ${issues.map((i) => `${i.field}: ${i.message}`).join("; ")}`);
  }
}

function parse<S extends z.ZodType>(schema: S, data: unknown, where: string): z.output<S> {
  const r = schema.safeParse(data ?? (where === "body" ? {} : data));
  if (!r.success)
    throw new BadRequest(
      issuesOf(r.error, schema).map((i) => ({ field: i.field === "(root)" ? where : `${where}.${i.field}`, message: i.message })),
    );
  return r.data;
}

/**
 * JSON bodies: a body that sets `__proto__` (or `constructor.prototype`) is refused naming where,
 * instead of being parsed into something that could reach an object's prototype.
 */
function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BadRequest([{ field: "body", message: `not valid JSON: ${(e as Error).message}` }]);
  }
  // Iterative: a 1 MiB body can nest deeper than the call stack.
  const todo: [unknown, string][] = [[v, "body"]];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [x, path] = next;
    if (typeof x !== "object" || x === null) continue;
    for (const [k, child] of Object.entries(x)) {
      const at = Array.isArray(x) ? `${path}[${k}]` : `${path}.${k}`;
      if (k === "__proto__" || (k === "constructor" && typeof child === "object" && child !== null && "prototype" in child))
        throw new BadRequest([{ field: at, message: `a "${k}" key is refused (it could change an object's prototype)` }]);
      todo.push([child, at]);
    }
  }
  return v;
}

/** Answers what Node's HTTP parser refuses before fastify sees the request (431, 400) with the error body. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || !socket.writable) return void socket.destroy();
  const [status, text, code, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "headers-too-large", "the request line and headers are larger than 16 KiB"]
      : [400, "Bad Request", "bad-request", `malformed HTTP request (${err.code ?? err.message})`];
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Allowed by the config only with http.insecure (config.ts); said at every start, and by --check. */
export function warnOfPlainApi(http: { host: string; tls?: unknown }, address: string, log: Logger): void {
  if (http.tls === undefined && !isLoopbackHost(http.host))
    log.warn({ address }, "http.insecure: the API serves plain HTTP to other machines; tokens cross the network in clear");
}

/** The HTTPS files of `http.tls`, read now: an unreadable one fails the start (and `--check`) naming its key. */
export function tlsOption(tls: { cert: string; key: string } | undefined): { https: { cert: Buffer; key: Buffer } } | object {
  if (!tls) return {};
  const read = (key: "cert" | "key") => {
    try {
      return readFileSync(tls[key]);
    } catch (e) {
      throw new ConfigError(`http.tls.${key}: ${cannotRead(tls[key], e)}`, [{ key: `http.tls.${key}`, message: (e as Error).message }]);
    }
  };
  return { https: { cert: read("cert"), key: read("key") } };
}

const IdParams = z.object({ id: Id });
const TokenParams = z.object({ name: TokenName });
const HostParams = z.object({ id: HostId });
const ModeParams = z.object({ kind: z.enum(RunTimeModeKinds) });
const ScheduleParams = z.object({ kind: z.enum(ScheduleKinds) });
const PlansQuery = z
  .object({
    status: z.enum(["proposed", "approved", "applying", "done", "rejected", "superseded"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();
const MigrationsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).default(50), vm: z.string().optional(), host: HostId.optional() })
  .strict();

/** Routes whose action is the path itself: a body (other than empty JSON) is refused, not ignored. */
function refuseBody(body: unknown, what: string): void {
  if (body !== undefined && body !== null && (typeof body !== "object" || Object.keys(body).length > 0))
    throw new BadRequest([{ field: "body", message: `${what} takes no body` }]);
}

function sumExcept(counts: Record<string, number>, skip: string): number {
  return Object.entries(counts).reduce((n, [k, c]) => (k === skip ? n : n + c), 0);
}

export function js(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

export class ApiServer {
  readonly app: FastifyInstance;
  address = "";
  private readonly callers = new WeakMap<FastifyRequest, { name: string; role: ApiRole }>();

  /** Refused tokens, logged per client address at most once per interval (a flood is one line). */
  private readonly refusals: DropLog;

  constructor(private readonly s: SchedulerApi) {
    this.refusals = new DropLog(s.log, s.config.reports.dropLogIntervalMs, "API requests", {
      keyField: "client",
      verb: "refused",
      preposition: "from",
    });
    this.app = Fastify({
      logger: false,
      bodyLimit: BODY_LIMIT,
      clientErrorHandler: clientError,
      // Router refusals (a path segment over maxParamLength, a malformed URL) come before any hook.
      frameworkErrors: (e, _req, reply) => void this.sendError(reply, e),
      // From a trusted proxy, req.ip is the client it names in X-Forwarded-For; from anyone else, the peer.
      trustProxy: s.config.http.trustProxy.length > 0 ? s.config.http.trustProxy : false,
      ...tlsOption(s.config.http.tls),
    }) as unknown as FastifyInstance;
  }

  /** Who asked, as the history records it. */
  private by(req: FastifyRequest): string {
    const c = this.callers.get(req);
    if (!c) throw new Error("request reached a handler without a caller"); // the onRequest hook sets it
    return `api:${c.name}`;
  }

  private async build(): Promise<void> {
    const app = this.app;
    // A route without a role would be reachable by any token (or none): refuse to serve it.
    app.addHook("onRoute", (r) => {
      const role = (r.config as Partial<RouteAuth> | undefined)?.role;
      if (!role) throw new Error(`route ${String(r.method)} ${r.url} declares no role (config: { role: "viewer" | "operator" | "admin" })`);
      if (role === "anyone") {
        if (r.schema?.hide !== true)
          throw new Error(`route ${String(r.method)} ${r.url} is open to anyone, so it must be hidden from the document`);
        return;
      }
      r.schema = { ...r.schema, security: [{ bearer: [role] }] };
    });
    app.addHook("onRequest", async (req) => {
      if (req.url.length > URL_LIMIT)
        throw new HttpError(414, "uri-too-long", `the request target is ${req.url.length} bytes; the limit is ${URL_LIMIT}`);
      if ((req.routeOptions.config as Partial<RouteAuth> | undefined)?.role === "anyone") return;
      const caller = this.s.tokens.authenticate(req.headers.authorization);
      // Unknown routes need a viewer token too: without one, nothing about the API is answered.
      const need = ((req.routeOptions.config as Partial<RouteAuth> | undefined)?.role ?? "viewer") as ApiRole;
      if (!grants(caller.role, need))
        throw new AuthError(
          403,
          "forbidden",
          `token "${caller.name}" has role ${caller.role}; ${req.method} ${req.routeOptions.url ?? req.url} needs ${need}`,
          caller.name,
        );
      this.callers.set(req, caller);
      // A follower serves reads; a change goes to the leader (tokens are each scheduler's own).
      if (req.method !== "GET" && req.method !== "HEAD" && !req.url.startsWith("/v1/tokens") && !this.s.leadership.mayAct())
        throw this.s.leadership.notLeader();
      if (req.method !== "GET" && req.method !== "HEAD" && !this.s.storeHealth.status().writable)
        throw storeUnwritable(this.s.storeHealth.status().reason);
      const enc = req.headers["content-encoding"];
      if (enc !== undefined && enc.trim().toLowerCase() !== "identity")
        throw new HttpError(415, "unsupported-encoding", `Content-Encoding "${enc}" is not accepted: send the body uncompressed`, [
          { field: "headers.content-encoding", message: `"${enc}" is not accepted` },
        ]);
    });
    app.removeContentTypeParser("application/json");
    app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => {
      try {
        done(null, parseJsonBody(text as string));
      } catch (e) {
        done(e as Error, undefined);
      }
    });
    // zod validates (in handlers, with our error format); the JSON schemas only document.
    app.setValidatorCompiler(() => () => true);
    app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Drover scheduler API",
          version: "1.0.0",
          description:
            "Bodies are the zod schemas in @drover/protocol (api.ts); the CLI's --json prints them. Every route needs " +
            "`Authorization: Bearer <token>`; its `security` names the least role (viewer < operator < admin).",
        },
        components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      },
    });
    // With leadership on, every answer names the leader's API, so a client of a follower (a refused
    // change above all) knows where changes go: the drover CLI follows it (cli/src/api-client.ts).
    app.addHook("onSend", async (_req, reply) => {
      const l = this.s.leadership.status();
      if (l.enabled && l.leader?.apiUrl) void reply.header("drover-leader-api", l.leader.apiUrl);
    });
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => this.sendError(reply, err));
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send(errorBody("not-found", `no route ${req.method} ${req.url.slice(0, 200)}`));
    });

    const err = { 400: js(ApiError), 401: js(ApiError), 403: js(ApiError), 404: js(ApiError), 409: js(ApiError) };
    const s = this.s;
    const now = () => s.clock.now();

    app.get("/openapi.json", { config: viewer, schema: { hide: true } }, async () => app.swagger());

    const feed = new DashboardFeed(s, (id) => this.host(id));
    app.addHook("onReady", async () => feed.start());
    app.addHook("preClose", async () => feed.stop());
    webRoutes(app, {
      feed,
      tokens: s.tokens,
      js,
      notAcceptable: (message, field) => new HttpError(406, "not-acceptable", message, [{ field, message }]),
    });

    app.get("/v1/status", { config: viewer, schema: { summary: "Cluster summary", response: { 200: js(StatusResponse) } } }, async () => {
      const byState: Record<string, number> = {};
      for (const h of s.state.hosts.values()) {
        const st = s.state.stateOf(h, now());
        byState[st] = (byState[st] ?? 0) + 1;
      }
      const w = s.modes.window();
      const cw = s.modes.schedules.consolidate;
      return StatusResponse.parse({
        cluster: s.config.cluster,
        nowMs: now(),
        startedAtMs: s.startedAtMs,
        modes: s.modes.modes,
        hosts: { total: s.state.hosts.size, byState },
        vms: s.state.vmCount,
        migrations: { inFlight: s.moves.inFlightCount, queued: s.moves.queuedCount, limits: s.config.limits },
        consolidationWindow: { active: w.active, start: cw.start, end: cw.end },
        plansAwaitingApproval: s.store.plans.list({ status: "proposed", limit: 1000 }).length,
        openMaintenance: s.store.maintenance.allActive().length,
        // Every refused report but a stale one (merely late).
        reports: { received: s.state.counters.reports, invalid: sumExcept(s.rejectedReports(), "stale") },
        store: s.storeHealth.status(),
        control: {
          leadership: s.leadership.status(),
          // The replicas' view is one JetStream request; a status answers even when NATS does not.
          nats: { ...s.nats(), leaseReplicas: (await s.leadership.leaseReplicas().catch(() => undefined)) ?? null },
        },
      });
    });

    app.get(
      "/v1/hosts",
      { config: viewer, schema: { summary: "Hosts as the scheduler sees them", response: { 200: js(HostsResponse) } } },
      async () => ({
        hosts: [...s.state.hosts.values()].sort((a, b) => a.id.localeCompare(b.id)).map((h) => this.host(h.id)),
      }),
    );

    app.get(
      "/v1/hosts/:id",
      { config: viewer, schema: { summary: "One host", params: js(HostParams), response: { 200: js(ApiHost), ...err } } },
      async (req) => {
        const { id } = parse(HostParams, req.params, "params");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        return this.host(id);
      },
    );

    app.get("/v1/vms", { config: viewer, schema: { summary: "VMs and where they run", response: { 200: js(VmsResponse) } } }, async () => ({
      vms: vmsView(s.state, s.config),
    }));

    app.post(
      "/v1/plan",
      {
        config: operator,
        schema: {
          summary: "Dry run: the moves a policy proposes, each with reason and cost; stored as proposed (approve to run)",
          body: js(PlanRequest, "input"),
          response: { 200: js(ApiPlan), ...err },
        },
      },
      async (req) => {
        const body = parse(PlanRequest, req.body, "body");
        if (body.host !== undefined && !s.state.hosts.has(body.host))
          throw new BadRequest([{ field: "body.host", message: `unknown host "${body.host}"` }]);
        return planToApi(
          s.planner.make(body.kind, { requestedBy: this.by(req), mode: "dry-run", ...(body.host ? { host: body.host } : {}) }),
        );
      },
    );

    app.get(
      "/v1/plans",
      { config: viewer, schema: { summary: "Plans, newest first", response: { 200: js(PlansResponse), ...err } } },
      async (req) => {
        const q = parse(PlansQuery, req.query, "query");
        return { plans: s.store.plans.list({ limit: q.limit, ...(q.status ? { status: q.status } : {}) }).map(planToApi) };
      },
    );

    app.get(
      "/v1/plans/:id",
      { config: viewer, schema: { summary: "One plan with its steps", params: js(IdParams), response: { 200: js(ApiPlan), ...err } } },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        const row = s.store.plans.get(id);
        if (!row) throw new NotFoundError(`no plan "${id}"`, "id");
        return planToApi(row);
      },
    );

    app.post(
      "/v1/plans/:id/approve",
      {
        config: operator,
        schema: {
          summary: "Approve a proposed plan: its steps run through the dispatcher",
          params: js(IdParams),
          response: { 200: js(ApiPlan), ...err },
        },
      },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        return planToApi(s.planner.approve(id, this.by(req)));
      },
    );

    app.post(
      "/v1/plans/:id/reject",
      {
        config: operator,
        schema: {
          summary: "Reject a proposed plan: none of its steps runs; the history names who rejected it",
          params: js(IdParams),
          response: { 200: js(ApiPlan), ...err },
        },
      },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        refuseBody(req.body, "reject");
        return planToApi(s.planner.reject(id, this.by(req)));
      },
    );

    app.post(
      "/v1/modes/:kind",
      {
        config: operator,
        schema: {
          summary:
            "Set what a scheduled policy's plans do (off, recommend, automatic) from the next round on; recorded in the " +
            "history (kind config, key modes.<kind>) with who changed it; kept across restarts until the config file's policies change",
          params: js(ModeParams),
          body: js(ModeRequest, "input"),
          response: { 200: js(ModesResponse), ...err },
        },
      },
      async (req) => {
        const { kind } = parse(ModeParams, req.params, "params");
        const { mode } = parse(ModeRequest, req.body, "body");
        return ModesResponse.parse({ modes: s.modes.set(kind, mode, this.by(req)) });
      },
    );

    app.post(
      "/v1/schedules/:kind",
      {
        config: operator,
        schema: {
          summary:
            "Set when a policy runs (the consolidation window) from the next round on; keys left out take their defaults. Recorded " +
            "in the history (kind config, key schedules.<kind>) with who changed it; kept across restarts until the config file's policies change",
          params: js(ScheduleParams),
          body: js(ScheduleRequest, "input"),
          response: { 200: js(SchedulesResponse), ...err },
        },
      },
      async (req) => {
        const { kind } = parse(ScheduleParams, req.params, "params");
        const window = parse(ScheduleRequest, req.body, "body");
        return SchedulesResponse.parse({ schedules: s.modes.setSchedule(kind, window, this.by(req)) });
      },
    );

    app.post(
      "/v1/migrations",
      {
        config: operator,
        schema: {
          summary:
            "One move through the dispatcher; with `cluster`, to a host of that peer cluster (chosen by the drain policy when `host` is left out)",
          body: js(MigrateRequest, "input"),
          response: { 202: js(ApiMigration), ...err },
        },
      },
      async (req, reply) => {
        const body = parse(MigrateRequest, req.body, "body");
        const by = this.by(req);
        const row = body.cluster
          ? s.moveAcross(body.vm, body.cluster, body.host, by)
          : s.moves.submit({ vm: body.vm, destination: body.host!, requestedBy: by, reason: "operator request" });
        void reply.code(202);
        return migrationView(row, null, s.vmRunningOn(row));
      },
    );

    app.get(
      "/v1/migrations",
      { config: viewer, schema: { summary: "Migrations, newest first", response: { 200: js(MigrationsResponse), ...err } } },
      async (req) => {
        const q = parse(MigrationsQuery, req.query, "query");
        const vm = q.vm ? (s.state.vm(q.vm)?.uuid ?? q.vm) : undefined;
        const rows = s.store.migrations.list({ limit: q.limit, ...(vm ? { vm } : {}), ...(q.host ? { host: q.host } : {}) });
        return { migrations: rows.map((m) => migrationView(m, s.moves.progressOf(m.id), s.vmRunningOn(m))) };
      },
    );

    app.get(
      "/v1/migrations/:id",
      {
        config: viewer,
        schema: { summary: "One migration with its latest progress", params: js(IdParams), response: { 200: js(ApiMigration), ...err } },
      },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        const m = s.store.migrations.get(id);
        if (!m) throw new NotFoundError(`no migration "${id}"`, "id");
        return migrationView(m, s.moves.progressOf(id), s.vmRunningOn(m));
      },
    );

    app.post(
      "/v1/migrations/:id/abort",
      {
        config: operator,
        schema: {
          summary:
            "Abort a migration: one not sent yet is cancelled, a running one is aborted by its source agent (virDomainAbortJob) " +
            "and ends aborted with the guest still on the source; the end names who asked",
          params: js(IdParams),
          response: { 202: js(ApiMigration), ...err },
        },
      },
      async (req, reply) => {
        const { id } = parse(IdParams, req.params, "params");
        const row = await s.moves.abort(id, this.by(req));
        void reply.code(202);
        return migrationView(row, s.moves.progressOf(id), s.vmRunningOn(row));
      },
    );

    app.post(
      "/v1/hosts/:id/drain",
      {
        config: operator,
        schema: {
          summary:
            "Evacuate the host; it ends in maintenance (optionally powered off). With `toCluster`, the VMs go to that peer cluster's hosts",
          params: js(HostParams),
          body: js(DrainRequest, "input"),
          response: { 202: js(ApiMaintenance), ...err },
        },
      },
      async (req, reply) => {
        const { id } = parse(HostParams, req.params, "params");
        const body = parse(DrainRequest, req.body, "body");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        const row = s.maintenance.drain(id, body.powerOff, this.by(req), body.toCluster);
        void reply.code(202);
        return s.maintenance.toApi(row);
      },
    );

    app.post(
      "/v1/hosts/:id/undrain",
      {
        config: operator,
        schema: { summary: "Return the host to service", params: js(HostParams), response: { 200: js(ApiMaintenance), ...err } },
      },
      async (req) => {
        const { id } = parse(HostParams, req.params, "params");
        refuseBody(req.body, "undrain");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        return s.maintenance.toApi(s.maintenance.undrain(id, this.by(req)));
      },
    );

    app.post(
      "/v1/hosts/:id/forget",
      {
        config: admin,
        schema: {
          summary:
            "Remove a host that no longer exists (not while it reports or a move, power action or drain involves it); its history stays",
          params: js(HostParams),
          response: { 200: js(ApiHost), ...err },
        },
      },
      async (req) => {
        const { id } = parse(HostParams, req.params, "params");
        refuseBody(req.body, "forget");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        const last = this.host(id);
        s.forgetHost(id, this.by(req));
        return last;
      },
    );

    app.get(
      "/v1/maintenance/:id",
      {
        config: viewer,
        schema: {
          summary: "A drain's progress, or why it is blocked",
          params: js(IdParams),
          response: { 200: js(ApiMaintenance), ...err },
        },
      },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        return s.maintenance.toApi(s.maintenance.get(id));
      },
    );

    app.post(
      "/v1/hosts/:id/power",
      {
        config: admin,
        schema: {
          summary: "Power a host off (only if safe) or wake it",
          params: js(HostParams),
          body: js(PowerRequest, "input"),
          response: { 202: js(ApiPowerAction), ...err },
        },
      },
      async (req, reply) => {
        const { id } = parse(HostParams, req.params, "params");
        const body = parse(PowerRequest, req.body, "body");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        const row =
          body.action === "off"
            ? s.power.requestPowerOff(id, this.by(req), "operator request")
            : s.power.requestWake(id, this.by(req), "operator request");
        void reply.code(202);
        return powerView(row);
      },
    );

    app.get(
      "/v1/power/:id",
      { config: viewer, schema: { summary: "A power action", params: js(IdParams), response: { 200: js(ApiPowerAction), ...err } } },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        const row = s.store.power.get(id);
        if (!row) throw new NotFoundError(`no power action "${id}"`, "id");
        return powerView(row);
      },
    );

    app.get(
      "/v1/history",
      {
        config: viewer,
        schema: {
          summary:
            "Plans, migrations, maintenance, power, config changes, host events and the commands agents ran, newest first; " +
            "filtered by time, kind, host or VM",
          querystring: js(HistoryQuery, "input"),
          response: { 200: js(HistoryResponse), ...err },
        },
      },
      async (req) => {
        const q = parse(HistoryQuery, req.query, "query");
        // A VM's name as the cluster knows it now; a gone VM's entries still match by uuid, or by name in plan steps.
        const vm = q.vm === undefined ? undefined : (s.state.vm(q.vm)?.uuid ?? q.vm);
        const entries = s.store.history({
          limit: q.limit,
          ...(q.sinceMs !== undefined ? { since: q.sinceMs } : {}),
          ...(q.kind ? { kinds: [q.kind] } : {}),
          ...(q.host !== undefined ? { host: q.host } : {}),
          ...(vm !== undefined ? { vm } : {}),
        });
        return { entries: entries.map(historyView) };
      },
    );

    app.get(
      "/v1/history/load",
      {
        config: viewer,
        schema: {
          summary:
            "A host's or VM's recorded load (or, with neither, the cluster's total VM demand): full-resolution samples and older " +
            "5-minute buckets (mean and max), with the seasonal forecast fitted on it and its measured error",
          querystring: js(LoadHistoryQuery, "input"),
          response: { 200: js(LoadHistoryResponse), ...err },
        },
      },
      async (req) => {
        const q = parse(LoadHistoryQuery, req.query, "query");
        const now = s.clock.now();
        const [kind, id] =
          q.host !== undefined
            ? (["host", q.host] as const)
            : q.vm !== undefined
              ? (["vm", s.state.vm(q.vm)?.uuid ?? q.vm] as const)
              : (["cluster", s.config.cluster] as const);
        const points = s.store.load.series(kind, id, q.sinceMs ?? now - 86_400_000);
        if (points.length === 0 && kind !== "cluster") {
          // As the operator named it, with the uuid the history is kept under when that differs.
          const named = kind === "vm" && q.vm !== id ? `"${q.vm}" (${id})` : `"${id}"`;
          throw new NotFoundError(`no load recorded for ${kind} ${named} in that period`, kind);
        }
        const f = s.forecasts.forSeries(kind, id, now);
        return {
          kind,
          id,
          points: points.map((p) => ({
            timeMs: p.atMs,
            bucketMs: p.bucketMs,
            samples: p.samples,
            cpuMhz: p.cpuMhz,
            cpuMaxMhz: p.cpuMaxMhz,
            memoryMiB: p.memoryMiB,
            memoryMaxMiB: p.memoryMaxMiB,
          })),
          forecast: { mape: f.mape, seasonal: f.seasonal, ...f.forecast, cpuMhz: [...f.forecast.cpuMhz] },
        };
      },
    );

    app.get(
      "/v1/history/replay",
      {
        config: viewer,
        schema: {
          summary:
            "The cluster's recorded load on a 5-minute grid (hosts, VMs' CPU demand) with what really happened in the period " +
            "(moves, hosts on, energy): what `drover simulate --from-history` replays",
          querystring: js(LoadReplayQuery, "input"),
          response: { 200: js(LoadReplayResponse), ...err },
        },
      },
      async (req) => {
        const q = parse(LoadReplayQuery, req.query, "query");
        const now = s.clock.now();
        return loadReplay(s.store, s.config, q.sinceMs ?? now - 7 * 86_400_000, now);
      },
    );

    app.get(
      "/v1/tokens",
      { config: admin, schema: { summary: "API tokens (never their secrets)", response: { 200: js(TokensResponse), ...err } } },
      async () => ({ tokens: s.tokens.list() }),
    );

    app.post(
      "/v1/tokens",
      {
        config: admin,
        schema: {
          summary: "A new token: the reply is the only place its secret is ever shown",
          body: js(TokenCreateRequest, "input"),
          response: { 201: js(TokenCreated), ...err },
        },
      },
      async (req, reply) => {
        const body = parse(TokenCreateRequest, req.body, "body");
        const { token, row } = s.tokens.create(body.name, body.role, this.by(req), { expiresAtMs: body.expiresAtMs });
        void reply.code(201);
        return TokenCreated.parse({ ...row, token });
      },
    );

    app.post(
      "/v1/tokens/:name/revoke",
      {
        config: admin,
        schema: { summary: "Revoke a token at once", params: js(TokenParams), response: { 200: js(ApiToken), ...err } },
      },
      async (req) => {
        const { name } = parse(TokenParams, req.params, "params");
        return s.tokens.revoke(name, this.by(req));
      },
    );

    app.get("/metrics", { config: viewer, schema: { summary: "Prometheus metrics" } }, async (_req, reply) => {
      void reply.header("content-type", s.metrics.registry.contentType);
      return s.metrics.registry.metrics();
    });
  }

  private host(id: string) {
    const s = this.s;
    return hostView(s.state, s.config, s.state.hosts.get(id)!, s.clock.now(), s.store.maintenance.active(id)?.id ?? null);
  }

  private sendError(reply: FastifyReply, e: Error & { statusCode?: number; code?: string }): FastifyReply {
    const body = errorBody;
    if (e instanceof AuthError) {
      const req = reply.request;
      this.s.metrics.apiAuthFailures.inc({ reason: e.reason });
      this.refusals.note(req.ip, e.reason, this.s.clock.now(), {
        request: `${req.method} ${req.routeOptions.url ?? "(no route)"}`,
        ...(e.tokenName !== undefined ? { token: e.tokenName } : {}),
      });
      if (e.status === 401) void reply.header("www-authenticate", 'Bearer realm="drover"');
      return reply.code(e.status).send(body(e.code, e.message));
    }
    if (e instanceof HttpError) return reply.code(e.status).send(body(e.code, e.message, e.issues));
    if (e instanceof TokenInputError)
      return reply.code(400).send(body("bad-request", e.message, [{ field: `body.${e.field}`, message: e.message }]));
    if (e.code === "FST_ERR_MAX_PARAM_LENGTH")
      return reply
        .code(414)
        .send(body("uri-too-long", "a path segment is longer than 100 characters", [{ field: "params", message: "too long" }]));
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE")
      return reply
        .code(413)
        .send(body("too-large", `the request body is larger than ${BODY_LIMIT} bytes`, [{ field: "body", message: "too large" }]));
    if (e instanceof BadRequest) return reply.code(400).send(body("bad-request", e.message, e.issues));
    if (e instanceof NotFoundError)
      return reply.code(404).send(body("not-found", e.message, e.field ? [{ field: `params.${e.field}`, message: e.message }] : []));
    if (e instanceof DispatchError) {
      const bad = e.code === "unknown-vm" || e.code === "unknown-host" || e.code === "unknown-cluster";
      return reply.code(bad ? 400 : 409).send(body(e.code, e.message, e.field ? [{ field: `body.${e.field}`, message: e.message }] : []));
    }
    if (e instanceof RefusedError) return reply.code(409).send(body(e.code, e.message));
    if (e instanceof PolicyInputError || e instanceof UnknownPolicyError) return reply.code(422).send(body(e.code, e.message));
    if (e instanceof StoreError && e.code === "conflict") return reply.code(409).send(body("conflict", e.message));
    if (e instanceof StoreError && e.code === "write-failed") e = storeUnwritable(e.message);
    if (e instanceof HttpError) return reply.code(e.status).send(body(e.code, e.message, e.issues));
    if (e.name === "SyntaxError" || (e.code ?? "").startsWith("FST_ERR_CTP")) {
      return reply
        .code(e.statusCode && e.statusCode < 500 ? e.statusCode : 400)
        .send(body("bad-request", `bad request body: ${e.message}`, [{ field: "body", message: e.message }]));
    }
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return reply.code(e.statusCode).send(body("bad-request", e.message));
    this.s.log.error({ err: e }, "API handler failed");
    return reply.code(500).send(body("internal", e.message));
  }

  async listen(host: string, port: number): Promise<void> {
    await this.build();
    await this.app.listen({ host, port });
    const a = this.app.server.address();
    const scheme = this.s.config.http.tls ? "https" : "http";
    this.address = typeof a === "object" && a ? urlOf(scheme, host, a.port) : String(a);
    warnOfPlainApi({ host, tls: this.s.config.http.tls }, this.address, this.s.log);
  }

  get port(): number {
    const a = this.app.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  /** Writes the refusals counted since a client's last line, once its interval has passed (the scheduler's tick). */
  flushLogs(nowMs: number): void {
    this.refusals.flush(nowMs);
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

export type { FastifyRequest };
