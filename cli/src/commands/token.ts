// `drover token create | list | revoke`: the API's tokens, through the API (an admin token is
// needed). The very first admin token is made on the scheduler host: drover-scheduler token create.
import type { Command } from "commander";
import { ApiRoles, ApiToken, TokenCreated, TokensResponse, timeArg } from "@drover/protocol";
import { usageError } from "../errors.js";
import { printJson, table, time } from "../format.js";
import { client } from "./api.js";

export function registerTokenCommands(program: Command): void {
  const token = program.command("token").description("API tokens: create (printed once), list, revoke (admin role)");

  token
    .command("create")
    .description("a new token; it is printed once, on stdout alone (e.g. > file), and never shown again")
    .requiredOption("--name <name>", "who holds it; recorded in the history as api:<name>")
    .requiredOption("--role <role>", ApiRoles.join(" | "))
    .option("--expires <when>", "refused from then on: a duration ahead (90d, 12h) or an ISO time (default: never)")
    .option("--json", "print the API's TokenCreated")
    .action(async (o: { name: string; role: string; expires?: string; json?: boolean }, cmd: Command) => {
      if (!(ApiRoles as readonly string[]).includes(o.role))
        throw usageError(`--role must be one of ${ApiRoles.join(", ")}, not ${JSON.stringify(o.role)}`);
      const expires = o.expires === undefined ? undefined : timeArg(o.expires, Date.now(), "ahead");
      if (expires !== undefined && "error" in expires) throw usageError(`--expires ${JSON.stringify(o.expires)} ${expires.error}`);
      const t = await client(cmd).post("/v1/tokens", { name: o.name, role: o.role, expiresAtMs: expires?.ms }, TokenCreated);
      if (o.json) return printJson(t);
      process.stdout.write(`${t.token}\n`);
      const until = t.expiresAtMs === null ? "" : `, until ${time(t.expiresAtMs)}`;
      process.stderr.write(`token "${t.name}" (${t.role}${until}) created; it is shown only this once: store it in a file of mode 600\n`);
    });

  token
    .command("list")
    .description("tokens with their role, last use and expiry (never their secrets)")
    .option("--json", "print the API's TokensResponse")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const r = await client(cmd).get("/v1/tokens", TokensResponse);
      if (o.json) return printJson(r);
      process.stdout.write(
        `${table(
          ["name", "role", "created", "last used", "expires", "revoked"],
          r.tokens.map((t) => [
            t.name,
            t.role,
            time(t.createdAtMs),
            t.lastUsedAtMs === null ? "-" : time(t.lastUsedAtMs),
            t.expiresAtMs === null ? "never" : time(t.expiresAtMs),
            t.revokedAtMs === null ? "-" : time(t.revokedAtMs),
          ]),
        )}\n`,
      );
    });

  token
    .command("revoke")
    .description("revoke a token at once (its name stays taken)")
    .argument("<name>")
    .option("--json", "print the API's ApiToken")
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const t = await client(cmd).post(`/v1/tokens/${encodeURIComponent(name)}/revoke`, {}, ApiToken);
      if (o.json) return printJson(t);
      process.stdout.write(`token "${t.name}" revoked\n`);
    });
}
