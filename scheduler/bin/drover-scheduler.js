#!/usr/bin/env node
// The scheduler from its bundle when fresh, else from source (scripts/app-bin.mjs);
// DROVER_SCHEDULER_FROM_SOURCE=1 forces the source.
import { runApp } from "../../scripts/app-bin.mjs";

await runApp(new URL("../", import.meta.url), "DROVER_SCHEDULER_FROM_SOURCE");
