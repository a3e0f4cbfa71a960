// Where `drover` may send its API token: plain HTTP only to this machine unless told otherwise.
// Refused in the constructor, before any request (nothing here connects anywhere).
import { describe, expect, it } from "vitest";
import { ApiClient } from "../src/api-client.js";
import { CliError, ExitCode } from "../src/errors.js";

function refusal(base: string, insecure?: boolean): CliError | undefined {
  try {
    new ApiClient(base, { insecure });
    return undefined;
  } catch (e) {
    return e as CliError;
  }
}

describe("the API client's base URLs", () => {
  it("takes https anywhere and plain http to this machine", () => {
    for (const base of [
      "https://sched.example:7070",
      "http://127.0.0.1:7070",
      "http://localhost:7070",
      "http://[::1]:7070",
      "http://127.0.2.1:7070,https://sched.example:7070",
    ])
      expect(refusal(base), base).toBeUndefined();
  });

  it("refuses plain http to another machine as a usage error naming the URL and the way out", () => {
    for (const base of [
      "http://sched.example:7070",
      "http://0.0.0.0:7070",
      "http://sched.example",
      "https://sched2.example:7070,http://sched.example:7070",
    ]) {
      const e = refusal(base);
      expect(e, base).toBeInstanceOf(CliError);
      expect(e?.exitCode).toBe(ExitCode.Usage);
      expect(e?.message).toMatch(
        /^--api http:\/\/.*: plain HTTP to another machine would send the API token in clear; use https:\/\/ .*DROVER_API_INSECURE=1$/,
      );
    }
  });

  it("takes plain http to another machine when told it is insecure", () => {
    expect(refusal("http://sched.example:7070", true)).toBeUndefined();
  });
});
