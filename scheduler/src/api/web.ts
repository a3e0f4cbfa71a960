// The dashboard's routes: the page and its two assets (public: they hold no cluster data, and the
// page must load before it can ask for a token), the dashboard body and its event stream (viewer).
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import { ApiDashboard, ApiError } from "@drover/protocol";
import type { DashboardFeed } from "./dashboard.js";
import type { SchedulerApi } from "./ports.js";

const ASSETS = [
  { url: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { url: "/dashboard/dashboard.js", file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  { url: "/dashboard/dashboard.css", file: "dashboard.css", type: "text/css; charset=utf-8" },
] as const;

/**
 * Everything the page loads comes from this server, and it runs no inline script: a page that
 * holds an operator token must not run code from anywhere else.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/** What the routes take from server.ts: JSON schemas for the document, and its 406. */
export interface WebRouteDeps {
  feed: DashboardFeed;
  tokens: SchedulerApi["tokens"];
  js: (schema: z.ZodType) => Record<string, unknown>;
  notAcceptable: (message: string, field: string) => Error;
}

export function webRoutes(app: FastifyInstance, { feed, tokens, js, notAcceptable }: WebRouteDeps): void {
  for (const a of ASSETS) {
    // Read once at start: a missing file fails the scheduler's start, not a visitor's request.
    const body = readFileSync(new URL(`./web/${a.file}`, import.meta.url));
    app.get(a.url, { config: { role: "anyone" }, schema: { hide: true } }, async (_req, reply) =>
      reply
        .header("content-type", a.type)
        .header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-cache")
        .send(body),
    );
  }

  app.get(
    "/v1/dashboard",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Everything the dashboard draws: hosts, VMs, migrations, plans, maintenance and the day's timeline",
        response: { 200: js(ApiDashboard) },
      },
    },
    async () => feed.snapshot(),
  );

  app.get(
    "/v1/dashboard/events",
    {
      config: { role: "viewer" },
      schema: {
        summary:
          "Server-sent events: `caller` (the token's name and role) once, then `dashboard` (the body of GET /v1/dashboard) at " +
          "once and every second; `unauthorized` and the end of the stream when the token is revoked. Needs " +
          "`Accept: text/event-stream` (406 otherwise) and the token in the Authorization header (fetch-based), never in the URL",
        response: {
          200: { description: "text/event-stream", content: { "text/event-stream": { schema: { type: "string" } } } },
          401: js(ApiError),
          406: js(ApiError),
        },
      },
    },
    async (req, reply) => {
      // An event stream never ends by itself: only a client that asked for one gets it (EventSource does).
      if (!(req.headers.accept ?? "").includes("text/event-stream"))
        throw notAcceptable(
          "this route is an event stream: send Accept: text/event-stream (GET /v1/dashboard answers the same body once)",
          "headers.accept",
        );
      const caller = tokens.authenticate(req.headers.authorization);
      reply.hijack();
      feed.stream(reply.raw, caller, req.headers.authorization);
    },
  );
}
