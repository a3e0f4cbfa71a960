// The HTTP API. Requests are validated with the zod schemas of @drover/protocol's api.ts (the same
// ones the CLI reads), which also document the routes in /openapi.json. Bad input gets a 4xx
// naming the field and changes nothing.
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
  HostId,
  HostsResponse,
  Id,
  MigrateRequest,
  MigrationsResponse,
  PlanRequest,
  PlansResponse,
  PowerRequest,
  StatusResponse,
  VmsResponse,
  issuesOf,
  ApiHost,
} from "@drover/protocol";
import { PolicyInputError, UnknownPolicyError } from "@drover/policy";
import { StoreError } from "@drover/store";
import { DispatchError, NotFoundError, RefusedError } from "../errors.js";
import { planToApi } from "../planner.js";
import type { SchedulerApi } from "./ports.js";
import { historyView, hostView, migrationView, powerView, vmView } from "./views.js";

class BadRequest extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid request: ${issues.map((i) => `${i.field}: ${i.message}`).join("; ")}`);
  }
}

function parse<S extends z.ZodType>(schema: S, data: unknown, where: string): z.output<S> {
  const r = schema.safeParse(data ?? (where === "body" ? {} : data));
  if (!r.success)
    throw new BadRequest(
      issuesOf(r.error).map((i) => ({ field: i.field === "(root)" ? where : `${where}.${i.field}`, message: i.message })),
    );
  return r.data;
}

const IdParams = z.object({ id: Id });
const HostParams = z.object({ id: HostId });
const PlansQuery = z
  .object({
    status: z.enum(["proposed", "approved", "applying", "done", "rejected", "superseded"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();
const MigrationsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).default(50), vm: z.string().optional(), host: HostId.optional() })
  .strict();

function sumExcept(counts: Record<string, number>, skip: string): number {
  return Object.entries(counts).reduce((n, [k, c]) => (k === skip ? n : n + c), 0);
}

function js(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

export class ApiServer {
  readonly app: FastifyInstance;
  address = "";

  constructor(private readonly s: SchedulerApi) {
    this.app = Fastify({ logger: false, bodyLimit: 1_048_576 });
  }

  private async build(): Promise<void> {
    const app = this.app;
    // zod validates (in handlers, with our error format); the JSON schemas only document.
    app.setValidatorCompiler(() => () => true);
    app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Drover scheduler API",
          version: "1.0.0",
          description: "Bodies are the zod schemas in @drover/protocol (api.ts); the CLI's --json prints them.",
        },
      },
    });
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => this.sendError(reply, err));
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send({ error: { code: "not-found", message: `no route ${req.method} ${req.url}`, issues: [] } });
    });

    const err = { 400: js(ApiError), 404: js(ApiError), 409: js(ApiError) };
    const s = this.s;
    const now = () => s.clock.now();

    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

    app.get("/v1/status", { schema: { summary: "Cluster summary", response: { 200: js(StatusResponse) } } }, async () => {
      const byState: Record<string, number> = {};
      for (const h of s.state.hosts.values()) {
        const st = s.state.stateOf(h, now());
        byState[st] = (byState[st] ?? 0) + 1;
      }
      const w = s.modes.window();
      const cw = s.config.policies.consolidate.window;
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
      });
    });

    app.get("/v1/hosts", { schema: { summary: "Hosts as the scheduler sees them", response: { 200: js(HostsResponse) } } }, async () => ({
      hosts: [...s.state.hosts.values()].sort((a, b) => a.id.localeCompare(b.id)).map((h) => this.host(h.id)),
    }));

    app.get(
      "/v1/hosts/:id",
      { schema: { summary: "One host", params: js(HostParams), response: { 200: js(ApiHost), ...err } } },
      async (req) => {
        const { id } = parse(HostParams, req.params, "params");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        return this.host(id);
      },
    );

    app.get("/v1/vms", { schema: { summary: "VMs and where they run", response: { 200: js(VmsResponse) } } }, async () => ({
      vms: [...s.state.allVms()].sort((a, b) => a.report.name.localeCompare(b.report.name)).map((v) => vmView(s.state, v)),
    }));

    app.post(
      "/v1/plan",
      {
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
        return planToApi(s.planner.make(body.kind, { requestedBy: "api", mode: "dry-run", ...(body.host ? { host: body.host } : {}) }));
      },
    );

    app.get("/v1/plans", { schema: { summary: "Plans, newest first", response: { 200: js(PlansResponse), ...err } } }, async (req) => {
      const q = parse(PlansQuery, req.query, "query");
      return { plans: s.store.plans.list({ limit: q.limit, ...(q.status ? { status: q.status } : {}) }).map(planToApi) };
    });

    app.get(
      "/v1/plans/:id",
      { schema: { summary: "One plan with its steps", params: js(IdParams), response: { 200: js(ApiPlan), ...err } } },
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
        schema: {
          summary: "Approve a proposed plan: its steps run through the dispatcher",
          params: js(IdParams),
          response: { 200: js(ApiPlan), ...err },
        },
      },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        return planToApi(s.planner.approve(id, "api"));
      },
    );

    app.post(
      "/v1/migrations",
      {
        schema: {
          summary: "One move through the dispatcher",
          body: js(MigrateRequest, "input"),
          response: { 202: js(ApiMigration), ...err },
        },
      },
      async (req, reply) => {
        const body = parse(MigrateRequest, req.body, "body");
        const row = s.moves.submit({ vm: body.vm, destination: body.host, requestedBy: "api", reason: "operator request" });
        void reply.code(202);
        return migrationView(row, null, s.state.vm(row.vmUuid)?.host ?? null);
      },
    );

    app.get(
      "/v1/migrations",
      { schema: { summary: "Migrations, newest first", response: { 200: js(MigrationsResponse), ...err } } },
      async (req) => {
        const q = parse(MigrationsQuery, req.query, "query");
        const vm = q.vm ? (s.state.vm(q.vm)?.uuid ?? q.vm) : undefined;
        const rows = s.store.migrations.list({ limit: q.limit, ...(vm ? { vm } : {}), ...(q.host ? { host: q.host } : {}) });
        return { migrations: rows.map((m) => migrationView(m, s.moves.progressOf(m.id), s.state.vm(m.vmUuid)?.host ?? null)) };
      },
    );

    app.get(
      "/v1/migrations/:id",
      { schema: { summary: "One migration with its latest progress", params: js(IdParams), response: { 200: js(ApiMigration), ...err } } },
      async (req) => {
        const { id } = parse(IdParams, req.params, "params");
        const m = s.store.migrations.get(id);
        if (!m) throw new NotFoundError(`no migration "${id}"`, "id");
        return migrationView(m, s.moves.progressOf(id), s.state.vm(m.vmUuid)?.host ?? null);
      },
    );

    app.post(
      "/v1/hosts/:id/drain",
      {
        schema: {
          summary: "Evacuate the host; it ends in maintenance (optionally powered off)",
          params: js(HostParams),
          body: js(DrainRequest, "input"),
          response: { 202: js(ApiMaintenance), ...err },
        },
      },
      async (req, reply) => {
        const { id } = parse(HostParams, req.params, "params");
        const body = parse(DrainRequest, req.body, "body");
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        const row = s.maintenance.drain(id, body.powerOff, "api");
        void reply.code(202);
        return s.maintenance.toApi(row);
      },
    );

    app.post(
      "/v1/hosts/:id/undrain",
      { schema: { summary: "Return the host to service", params: js(HostParams), response: { 200: js(ApiMaintenance), ...err } } },
      async (req) => {
        const { id } = parse(HostParams, req.params, "params");
        if (req.body !== undefined && req.body !== null && (typeof req.body !== "object" || Object.keys(req.body).length > 0)) {
          throw new BadRequest([{ field: "body", message: "undrain takes no body" }]);
        }
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        return s.maintenance.toApi(s.maintenance.undrain(id, "api"));
      },
    );

    app.post(
      "/v1/hosts/:id/forget",
      {
        schema: {
          summary:
            "Remove a host that no longer exists (not while it reports or a move, power action or drain involves it); its history stays",
          params: js(HostParams),
          response: { 200: js(ApiHost), ...err },
        },
      },
      async (req) => {
        const { id } = parse(HostParams, req.params, "params");
        if (req.body !== undefined && req.body !== null && (typeof req.body !== "object" || Object.keys(req.body).length > 0)) {
          throw new BadRequest([{ field: "body", message: "forget takes no body" }]);
        }
        if (!s.state.hosts.has(id)) throw new NotFoundError(`no host "${id}"`, "id");
        const last = this.host(id);
        s.forgetHost(id, "api");
        return last;
      },
    );

    app.get(
      "/v1/maintenance/:id",
      {
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
            ? s.power.requestPowerOff(id, "api", "operator request")
            : s.power.requestWake(id, "api", "operator request");
        void reply.code(202);
        return powerView(row);
      },
    );

    app.get(
      "/v1/power/:id",
      { schema: { summary: "A power action", params: js(IdParams), response: { 200: js(ApiPowerAction), ...err } } },
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
        schema: {
          summary: "Plans, migrations, maintenance, power and config changes, newest first",
          response: { 200: js(HistoryResponse), ...err },
        },
      },
      async (req) => {
        const q = parse(HistoryQuery, req.query, "query");
        if (q.kind === "host") return { entries: [] };
        const entries = s.store.history({
          limit: q.limit,
          ...(q.sinceMs !== undefined ? { since: q.sinceMs } : {}),
          ...(q.kind ? { kinds: [q.kind] } : {}),
        });
        return { entries: entries.slice(0, q.limit).map(historyView) };
      },
    );

    app.get("/metrics", { schema: { summary: "Prometheus metrics" } }, async (_req, reply) => {
      void reply.header("content-type", s.metrics.registry.contentType);
      return s.metrics.registry.metrics();
    });
  }

  private host(id: string) {
    const s = this.s;
    return hostView(s.state, s.config, s.state.hosts.get(id)!, s.clock.now(), s.store.maintenance.active(id)?.id ?? null);
  }

  private sendError(reply: FastifyReply, e: Error & { statusCode?: number; code?: string }): FastifyReply {
    const body = (code: string, message: string, issues: { field: string; message: string }[] = []) => ({
      error: { code, message, issues },
    });
    if (e instanceof BadRequest) return reply.code(400).send(body("bad-request", e.message, e.issues));
    if (e instanceof NotFoundError)
      return reply.code(404).send(body("not-found", e.message, e.field ? [{ field: `params.${e.field}`, message: e.message }] : []));
    if (e instanceof DispatchError) {
      const bad = e.code === "unknown-vm" || e.code === "unknown-host";
      return reply.code(bad ? 400 : 409).send(body(e.code, e.message, e.field ? [{ field: `body.${e.field}`, message: e.message }] : []));
    }
    if (e instanceof RefusedError) return reply.code(409).send(body(e.code, e.message));
    if (e instanceof PolicyInputError || e instanceof UnknownPolicyError) return reply.code(422).send(body(e.code, e.message));
    if (e instanceof StoreError && e.code === "conflict") return reply.code(409).send(body("conflict", e.message));
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
    this.address = typeof a === "object" && a ? `http://${host}:${a.port}` : String(a);
  }

  get port(): number {
    const a = this.app.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

export type { FastifyRequest };
