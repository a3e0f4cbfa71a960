// The POST routes of the scheduler's API, fuzzed as api-fuzz.ts says.
import { fuzzApi } from "./api-fuzz.js";

fuzzApi("POST");
