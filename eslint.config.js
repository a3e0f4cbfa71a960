// The import rules of ARCHITECTURE.md ("Layout and what may import what"), enforced so they cannot erode.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const drover = (names) => names.map((n) => `@drover/${n}`);
const apps = drover(["host-agent", "scheduler", "cli", "e2e"]);
const workspaces = drover(["protocol", "bus", "libvirt", "store", "policy", "sim", "lab", "wol"]);

/** Owners of external systems: only the named folder may import these modules. */
const owned = [
  { group: ["@nats-io/*"], owner: "packages/bus", message: "only packages/bus talks to NATS" },
  { group: ["koffi"], owner: "packages/libvirt", message: "only packages/libvirt touches libvirt" },
  { group: ["better-sqlite3"], owner: "packages/store", message: "only packages/store opens SQLite" },
];

/** What each folder may import from the workspace (everything else @drover/* is refused). */
const allowed = {
  "packages/protocol": [],
  "packages/policy": ["protocol"],
  "packages/bus": ["protocol"],
  "packages/libvirt": ["protocol"],
  "packages/store": ["protocol"],
  "packages/wol": ["protocol"],
  "packages/sim": ["protocol", "policy"],
  "packages/lab": ["protocol", "bus", "libvirt", "wol"],
  "agents/host-agent": ["protocol", "bus", "libvirt", "wol"],
  scheduler: ["protocol", "bus", "store", "policy", "wol"],
  cli: ["protocol", "policy", "sim", "lab", "bus"],
};

/** Test fixtures (`@drover/<pkg>/testing`) stay out of product code; the lab runs its own nats-server. */
const testingAllowed = { "packages/lab": ["@drover/bus/testing"] };

function restrictions(folder) {
  const ok = new Set(drover(allowed[folder] ?? []));
  const patterns = [
    ...owned.filter((o) => o.owner !== folder).map((o) => ({ group: o.group, message: o.message })),
    {
      group: ["@drover/*/testing", ...(testingAllowed[folder] ?? []).map((m) => `!${m}`)],
      message: "a ./testing entry holds test fixtures: tests, benches and the lab use it, product code does not",
    },
    {
      group: [...workspaces, ...apps].filter((n) => !ok.has(n)).flatMap((n) => [n, `${n}/*`]),
      message: `${folder} may import only ${[...ok].join(", ") || "no workspace package"} (ARCHITECTURE.md)`,
    },
  ];
  return { "no-restricted-imports": ["error", { patterns }] };
}

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "**/.turbo/**", "**/bin/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      // Prettier wraps code at 140; this catches what it cannot wrap (long comments).
      "max-len": ["error", { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
  ...Object.keys(allowed).map((folder) => ({
    files: [`${folder}/src/**/*.ts`],
    rules: restrictions(folder),
  })),
  {
    files: ["packages/protocol/src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: "^(?!zod$|fastest-levenshtein$|\\.).*", message: "protocol imports only zod and fastest-levenshtein" }] },
      ],
    },
  },
  {
    files: ["packages/policy/src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: "^(?!zod$|@drover/protocol$|\\.).*", message: "policy imports only protocol and zod: no I/O" }] },
      ],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "policy is pure: time arrives as an argument" },
        { object: "Math", property: "random", message: "policy is pure: seeds arrive as arguments" },
        { object: "performance", property: "now", message: "policy is pure: time arrives as an argument" },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: "policy is pure: time arrives as an argument" },
      ],
    },
  },
  {
    files: ["packages/*/src/**/*.ts", "agents/*/src/**/*.ts", "scheduler/src/**/*.ts"],
    rules: { "no-console": "error" },
  },
);
