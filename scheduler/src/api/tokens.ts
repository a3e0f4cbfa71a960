// The HTTP API's bearer tokens: made here, kept in the store as SHA-256 only, checked on every
// request. Used by the API (token routes, authentication) and by `drover-scheduler token`, which
// makes the first admin token on the scheduler host, where no token exists yet to ask the API with.
import { createHash, randomBytes } from "node:crypto";
import { ApiRole, ApiRoles, MAX_EPOCH_MS, TokenName, issuesOf, type ApiToken } from "@drover/protocol";
import type { Store, TokenRow } from "@drover/store";
import { NotFoundError } from "../errors.js";

/** Why a request's token was refused, as the metrics and the log count it. */
export type AuthFailure = "no-token" | "malformed" | "unknown" | "revoked" | "expired" | "forbidden";

/** 401 (who are you?) or 403 (not allowed to); the message says which and why, never the token. */
export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(
    readonly status: 401 | 403,
    readonly reason: AuthFailure,
    message: string,
    /** The token's name, when the token is known (revoked, or its role too low). */
    readonly tokenName?: string,
  ) {
    super(message);
  }
  get code(): string {
    return this.status === 401 ? "unauthorized" : "forbidden";
  }
}

/** A role may do what it grants and everything the roles before it in ApiRoles grant. */
export function grants(have: ApiRole, need: ApiRole): boolean {
  return ApiRoles.indexOf(have) >= ApiRoles.indexOf(need);
}

// 256 random bits: the stored SHA-256 cannot be reversed, and looking a token up by its hash leaks
// nothing through timing (an attacker cannot choose what the probe compares).
const hashOf = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex");
const PREFIX = "drover_";
const SECRET = /^drover_[A-Za-z0-9_-]{43}$/;
/** last_used is written at most this often per token, not on every request. */
const TOUCH_EVERY_MS = 60_000;

export const tokenView = (r: TokenRow): ApiToken => ({
  name: r.name,
  role: r.role,
  createdAtMs: r.createdMs,
  lastUsedAtMs: r.lastUsedMs,
  revokedAtMs: r.revokedMs,
  expiresAtMs: r.expiresMs,
});

export class TokenBook {
  constructor(
    private readonly store: Pick<Store, "tokens" | "config" | "transaction">,
    private readonly now: () => number,
  ) {}

  /**
   * Returns the secret, which exists only in this reply. `by` is who asked, recorded in the history.
   * `secret`: a token another scheduler of the cluster made, registered here too, so one token is
   * good on every scheduler (a client follows whichever leads). `expiresAtMs`: from then on it is
   * refused (give each scheduler the same); absent, never.
   */
  create(
    name: string,
    role: string,
    by: string,
    opts: { secret?: string | undefined; expiresAtMs?: number | undefined } = {},
  ): { token: string; row: ApiToken } {
    const { secret, expiresAtMs } = opts;
    const n = TokenName.safeParse(name);
    if (!n.success) throw new TokenInputError("name", issuesOf(n.error)[0]?.message ?? "invalid");
    const r = ApiRole.safeParse(role);
    if (!r.success) throw new TokenInputError("role", `must be one of ${ApiRoles.join(", ")}`);
    if (secret !== undefined && !SECRET.test(secret))
      throw new TokenInputError("secret", `must be a token as drover-scheduler makes them (${PREFIX} and 43 base64url characters)`);
    const at = this.now();
    if (expiresAtMs !== undefined && !(Number.isSafeInteger(expiresAtMs) && expiresAtMs > at && expiresAtMs <= MAX_EPOCH_MS))
      throw new TokenInputError("expiresAtMs", `must be a time in the future (now ${new Date(at).toISOString()}) that a date can hold`);
    const token = secret ?? PREFIX + randomBytes(32).toString("base64url");
    const row = this.store.transaction(() => {
      const row = this.store.tokens.create({
        name: n.data,
        role: r.data,
        hash: hashOf(token),
        createdMs: at,
        expiresMs: expiresAtMs ?? null,
      });
      const value = { role: r.data, ...(expiresAtMs !== undefined ? { expiresAtMs } : {}) };
      this.store.config.recordChange({ atMs: at, who: by, key: `api.tokens.${n.data}`, oldValue: null, newValue: value });
      return row;
    });
    return { token, row: tokenView(row) };
  }

  revoke(name: string, by: string): ApiToken {
    return this.store.transaction(() => {
      const before = this.store.tokens.get(name);
      if (!before) throw new NotFoundError(`no token named "${name}"`, "name");
      const row = this.store.tokens.revoke(name, this.now());
      if (before.revokedMs === null)
        this.store.config.recordChange({
          atMs: row.revokedMs ?? this.now(),
          who: by,
          key: `api.tokens.${name}`,
          oldValue: { role: row.role },
          newValue: "revoked",
        });
      return tokenView(row);
    });
  }

  list(): ApiToken[] {
    return this.store.tokens.list().map(tokenView);
  }

  /** The caller of a request from its Authorization header; AuthError 401 if there is none that is valid. */
  authenticate(authorization: string | undefined): { name: string; role: ApiRole } {
    if (authorization === undefined || authorization === "")
      throw new AuthError(401, "no-token", "no token: send Authorization: Bearer <token> (drover reads DROVER_TOKEN or --token-file)");
    const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(authorization);
    if (!m) throw new AuthError(401, "malformed", "the Authorization header must be 'Bearer <token>'");
    const row = this.store.tokens.byHash(hashOf(m[1]!));
    if (!row) throw new AuthError(401, "unknown", "unknown token");
    if (row.revokedMs !== null) throw new AuthError(401, "revoked", `token "${row.name}" was revoked`, row.name);
    const now = this.now();
    if (row.expiresMs !== null && now >= row.expiresMs)
      throw new AuthError(401, "expired", `token "${row.name}" expired at ${new Date(row.expiresMs).toISOString()}`, row.name);
    if (row.lastUsedMs === null || now - row.lastUsedMs >= TOUCH_EVERY_MS) this.store.tokens.touch(row.name, now);
    return { name: row.name, role: row.role };
  }
}

/** A token name or role that is not valid; `field` is "name" or "role". */
export class TokenInputError extends Error {
  override readonly name = "TokenInputError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
