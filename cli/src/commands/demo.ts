import type { Command } from "commander";

export function registerDemoCommand(program: Command): void {
  program.command("demo").description("start a lab cluster and show Drover at work, narrated").action(async () => {});
}
