#!/usr/bin/env node
// The CLI from its bundle when fresh, else from source (scripts/app-bin.mjs);
// DROVER_CLI_FROM_SOURCE=1 forces the source.
import { runApp } from "../../scripts/app-bin.mjs";

await runApp(new URL("../", import.meta.url), "DROVER_CLI_FROM_SOURCE");
