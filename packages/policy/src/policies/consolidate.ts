import { z } from "zod";
import type { Policy } from "../policy.js";

export const consolidateArgs = z.object({}).strict();

export const consolidatePolicy: Policy<typeof consolidateArgs> = {
  name: "consolidate",
  description: "todo",
  args: consolidateArgs,
  run() {},
};
