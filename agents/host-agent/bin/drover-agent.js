#!/usr/bin/env node
// The monorepo has no build step: register tsx, then run the TypeScript entry in this process
// (so SIGTERM/SIGINT reach the agent itself).
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
