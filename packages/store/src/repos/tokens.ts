import type Database from "better-sqlite3";
import { epochMs, epochMsOrNull, oneOf, rethrowConflict, text } from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import { TokenRoles, type TokenInput, type TokenRole, type TokenRow } from "../types.js";

interface TokenSql {
  name: string;
  role: string;
  hash: string;
  created_ms: number;
  last_used_ms: number | null;
  revoked_ms: number | null;
  expires_ms: number | null;
}

const toRow = (r: TokenSql): TokenRow => ({
  name: r.name,
  role: r.role as TokenRole,
  hash: r.hash,
  createdMs: r.created_ms,
  lastUsedMs: r.last_used_ms,
  revokedMs: r.revoked_ms,
  expiresMs: r.expires_ms,
});

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class Tokens {
  readonly #insert: Database.Statement;
  readonly #byHash: Database.Statement<[string], TokenSql>;
  readonly #get: Database.Statement<[string], TokenSql>;
  readonly #list: Database.Statement<[], TokenSql>;
  readonly #revoke: Database.Statement<{ name: string; atMs: number }>;
  readonly #touch: Database.Statement<{ name: string; atMs: number }>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO api_tokens (name, role, hash, created_ms, expires_ms) VALUES (@name, @role, @hash, @createdMs, @expiresMs)`);
    this.#byHash = db.prepare("SELECT * FROM api_tokens WHERE hash = ?");
    this.#get = db.prepare("SELECT * FROM api_tokens WHERE name = ?");
    this.#list = db.prepare("SELECT * FROM api_tokens ORDER BY created_ms, rowid");
    this.#revoke = db.prepare("UPDATE api_tokens SET revoked_ms = @atMs WHERE name = @name AND revoked_ms IS NULL");
    this.#touch = db.prepare("UPDATE api_tokens SET last_used_ms = @atMs WHERE name = @name");
  }

  /** A name is used once for good: creating it again (even after a revoke) is a conflict. */
  create(t: TokenInput): TokenRow {
    const w = "tokens.create";
    const row = {
      name: text(w, "name", t.name),
      role: oneOf(w, "role", TokenRoles, t.role),
      hash: text(w, "hash", t.hash),
      createdMs: epochMs(w, "createdMs", t.createdMs),
      expiresMs: epochMsOrNull(w, "expiresMs", t.expiresMs ?? null),
    };
    if (!SHA256_HEX.test(row.hash)) throw new StoreError(StoreErrorCodes.InvalidInput, `${w}: hash must be a SHA-256 in hex`);
    if (row.expiresMs !== null && row.expiresMs <= row.createdMs)
      throw new StoreError(StoreErrorCodes.InvalidInput, `${w}: expiresMs must be after createdMs`);
    try {
      this.#insert.run(row);
    } catch (err) {
      rethrowConflict(err, `${w}: a token named '${row.name}' already exists`);
    }
    return { ...row, lastUsedMs: null, revokedMs: null };
  }

  /** The token with this hash, revoked or not (the caller decides what a revoked one means). */
  byHash(hash: string): TokenRow | undefined {
    const r = this.#byHash.get(hash);
    return r && toRow(r);
  }

  get(name: string): TokenRow | undefined {
    const r = this.#get.get(name);
    return r && toRow(r);
  }

  /** Oldest first. */
  list(): TokenRow[] {
    return this.#list.all().map(toRow);
  }

  /** Idempotent; throws not-found for a name never created. Returns the row as it is now. */
  revoke(name: string, atMs: number): TokenRow {
    this.#revoke.run({ name, atMs: epochMs("tokens.revoke", "atMs", atMs) });
    const row = this.get(name);
    if (!row) throw new StoreError(StoreErrorCodes.NotFound, `tokens.revoke: no token named '${name}'`);
    return row;
  }

  touch(name: string, atMs: number): void {
    this.#touch.run({ name, atMs: epochMs("tokens.touch", "atMs", atMs) });
  }
}
