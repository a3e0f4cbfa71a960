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
