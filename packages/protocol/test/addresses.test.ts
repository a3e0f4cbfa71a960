import { describe, expect, it } from "vitest";
import { isLoopbackHost, isPlainHttpOffMachine, shownUrl, urlOf } from "../src/index.js";

describe("isLoopbackHost", () => {
  it("takes localhost, 127.0.0.0/8 and ::1 (bracketed or not) as this machine", () => {
    for (const h of [
      "localhost",
      "LOCALHOST",
      "127.0.0.1",
      "127.0.1.254",
      "127.255.255.255",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "[::ffff:7f00:1]",
    ])
      expect(isLoopbackHost(h), h).toBe(true);
  });

  it("takes every other address or name as another machine, the wildcard addresses too", () => {
    for (const h of [
      "0.0.0.0",
      "::",
      "192.0.2.1",
      "128.0.0.1",
      "1127.0.0.1",
      "127.0.0.1.example",
      "localhost.example",
      "nats.example",
      "::2",
      "[2001:db8::1]",
      "::ffff:192.0.2.1",
      "::ffff:c000:201",
      "",
    ])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});

describe("isPlainHttpOffMachine", () => {
  it("is true only for http:// to a host that is not loopback", () => {
    expect(isPlainHttpOffMachine("http://hooks.example/x")).toBe(true);
    expect(isPlainHttpOffMachine("http://[2001:db8::1]:8080/")).toBe(true);
    expect(isPlainHttpOffMachine("http://0.0.0.0:7070")).toBe(true);
    expect(isPlainHttpOffMachine("https://hooks.example/x")).toBe(false);
    expect(isPlainHttpOffMachine("http://127.0.0.1:9/")).toBe(false);
    expect(isPlainHttpOffMachine("http://[::1]:9/")).toBe(false);
    expect(isPlainHttpOffMachine("http://localhost/")).toBe(false);
    expect(isPlainHttpOffMachine("not a url")).toBe(false);
  });
});

describe("urlOf", () => {
  it("puts an IPv6 address in brackets, once", () => {
    expect(urlOf("http", "127.0.0.1", 7070)).toBe("http://127.0.0.1:7070");
    expect(urlOf("https", "::1", 7070)).toBe("https://[::1]:7070");
    expect(urlOf("https", "[::1]", 7070)).toBe("https://[::1]:7070");
    expect(new URL(urlOf("http", "2001:db8::1", 1)).port).toBe("1");
  });
});

describe("shownUrl", () => {
  it("hides a user and password written into a URL, and leaves any other URL as it is", () => {
    expect(shownUrl("nats://drover:hunter2@nats.example:4222")).toBe("nats://***@nats.example:4222");
    expect(shownUrl("nats://token@nats.example:4222")).toBe("nats://***@nats.example:4222");
    expect(shownUrl("http://nats.example:7070/a@b")).toBe("http://nats.example:7070/a@b");
    expect(shownUrl("nats://nats.example:4222")).toBe("nats://nats.example:4222");
  });
});
