import { z } from "zod";
import type { Policy } from "../policy.js";

export const balanceArgs = z.object({}).strict();

export const balancePolicy: Policy<typeof balanceArgs> = {
  name: "balance",
  description: "todo",
  args: balanceArgs,
  run() {},
};
