/**
 * The base of every error Drover throws, in every package.
 *
 * - `code`: stable, for programs: lower-case kebab, optionally `area.`-prefixed (`vm-busy`,
 *   `lab.bad-option`, `policy.unknown`). Codes travel in replies, results and API bodies.
 * - `name`: the subclass's name (subclasses still spell it out: a bundler may rename classes).
 * - `cause`: the standard ErrorOptions.
 */
export abstract class DroverError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A failed file operation's errno code (ENOENT, EACCES, ...), else the error's message. */
export function errnoOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : String((e as Error | null)?.message ?? e);
}

/** "cannot read FILE: ENOENT": a file that failed to open, by its errno (node's own message repeats the path). */
export function cannotRead(file: string, e: unknown): string {
  return `cannot read ${file}: ${errnoOf(e)}`;
}
