// The configuration reference, read off a zod schema: every key with its type, default and
// description (`.describe()`), rendered as the commented YAML `drover install` writes and as the
// Markdown of docs/configuration.md. Both come from the schema, so neither can drift from the code.
import type { z } from "zod";

export interface KeyDoc {
  /** Key path; a map's entries appear as `<name>` (e.g. hosts.<host>.power.wake). */
  path: string[];
  type: string;
  /** Present when the key has a default (JSON of it); sections filled from their keys' defaults have none. */
  default?: string;
  /** The file is invalid without it. */
  required: boolean;
  /** Required whenever its section is given (its section itself may be optional). */
  requiredInSection: boolean;
  /** A mapping whose keys are listed after it. */
  section: boolean;
  description: string | undefined;
}

// zod 4's definitions, read structurally (`_zod.def`): only what this walker needs.
interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  defaultValue?: unknown;
  shape?: Record<string, Schema>;
  keyType?: Schema;
  valueType?: Schema;
  element?: Schema;
  options?: Schema[];
  entries?: Record<string, string>;
  values?: unknown[];
  format?: string;
  checks?: { _zod: { def: { check: string; format?: string; value?: unknown; inclusive?: boolean; minimum?: number; prefix?: string } } }[];
}
interface Schema {
  _zod: { def: Def };
  description?: string;
}

/** Peels defaults, optionals and pipes off a schema, keeping the first description and the default. */
function unwrap(s: Schema): { core: Schema; description?: string; default?: unknown; optional: boolean; nullable: boolean } {
  let description = s.description;
  let dflt: unknown;
  let optional = false;
  let nullable = false;
  let prefault = false;
  for (;;) {
    const d = s._zod.def;
    if (d.type === "default" || d.type === "prefault") {
      if (d.type === "prefault") prefault = true;
      else if (dflt === undefined) dflt = d.defaultValue;
      s = d.innerType!;
    } else if (d.type === "optional" || d.type === "nullable" || d.type === "readonly" || d.type === "catch") {
      if (d.type === "optional") optional = true;
      if (d.type === "nullable") nullable = true;
      s = d.innerType!;
    } else if (d.type === "pipe") s = d.in!;
    else break;
    description ??= s.description;
  }
  return {
    core: s,
    ...(description !== undefined ? { description } : {}),
    ...(dflt !== undefined ? { default: dflt } : {}),
    optional: optional || prefault || dflt !== undefined,
    nullable,
  };
}

function range(d: Def): string {
  let lo: string | undefined;
  let hi: string | undefined;
  for (const c of d.checks ?? []) {
    const k = c._zod.def;
    if (k.check === "greater_than") lo = `${k.inclusive ? ">=" : ">"} ${String(k.value)}`;
    if (k.check === "less_than") hi = `${k.inclusive ? "<=" : "<"} ${String(k.value)}`;
  }
  return [lo, hi].filter(Boolean).join(", ");
}

/** A short human name of a value type: `integer >= 1`, `off | recommend | automatic`, `list of string`. */
export function typeName(s: Schema): string {
  const { core, nullable } = unwrap(s);
  const d = core._zod.def;
  let t: string;
  switch (d.type) {
    case "string": {
      const abs = (d.checks ?? []).some((c) => c._zod.def.format === "starts_with" && c._zod.def.prefix === "/");
      t =
        d.format === "ipv4"
          ? "IPv4 address"
          : d.format === "ipv6"
            ? "IPv6 address"
            : d.format === "url"
              ? "URL"
              : abs
                ? "absolute path"
                : "string";
      break;
    }
    case "number": {
      const int = (d.checks ?? []).some((c) => c._zod.def.format === "safeint");
      const r = range(d);
      t = `${int ? "integer" : "number"}${r ? ` ${r}` : ""}`;
      break;
    }
    case "boolean":
      t = "boolean";
      break;
    case "enum":
      t = Object.values(d.entries ?? {}).join(" | ");
      break;
    case "literal":
      t = (d.values ?? []).map((v) => JSON.stringify(v)).join(" | ");
      break;
    case "array":
      t = `list of ${typeName(d.element!)}`;
      break;
    case "object":
      t = "mapping";
      break;
    case "record":
      t = `map of ${typeName(d.keyType!)} to ${typeName(d.valueType!)}`;
      break;
    case "union":
      t = [...new Set((d.options ?? []).map(typeName))].join(" | ");
      break;
    case "unknown":
    case "any":
      t = "any";
      break;
    default:
      t = d.type;
  }
  return nullable ? `${t} | null` : t;
}

/** A map's entry placeholder: `hosts` → `<host>`. */
const entryName = (key: string): string => `<${key.replace(/s$/, "") || "name"}>`;

/** Every key of an object schema, depth first in declaration order. */
export function configKeys(schema: z.ZodType): KeyDoc[] {
  const out: KeyDoc[] = [];
  const walk = (s: Schema, path: string[], required: boolean): void => {
    const d = unwrap(s).core._zod.def;
    if (d.type === "object") for (const [k, v] of Object.entries(d.shape ?? {})) visit(v, [...path, k], required);
    // A map's entries are each optional: their keys are required only within an entry.
    if (d.type === "record" && unwrap(d.valueType!).core._zod.def.type === "object")
      walk(d.valueType!, [...path, entryName(path.at(-1) ?? "")], false);
  };
  const visit = (s: Schema, path: string[], parentRequired: boolean): void => {
    const u = unwrap(s);
    const d = u.core._zod.def;
    const section = d.type === "object" || (d.type === "record" && unwrap(d.valueType!).core._zod.def.type === "object");
    out.push({
      path,
      type: typeName(s),
      ...(u.default !== undefined && !(section && isEmpty(u.default)) ? { default: JSON.stringify(u.default) } : {}),
      required: parentRequired && !u.optional,
      requiredInSection: !u.optional,
      section,
      description: u.description,
    });
    walk(s, path, parentRequired && !u.optional);
  };
  walk(schema as unknown as Schema, [], true);
  return out;
}

const isEmpty = (v: unknown): boolean => typeof v === "object" && v !== null && Object.keys(v).length === 0;

/** Refuses a schema with a key that has no description, naming every such key. */
export function checkDescribed(app: string, keys: KeyDoc[]): void {
  const missing = keys.filter((k) => !k.description?.trim()).map((k) => k.path.join("."));
  if (missing.length)
    throw new Error(`${app}: ${missing.length} config key(s) without a description (add .describe() to the schema): ${missing.join(", ")}`);
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export interface YamlOptions {
  /** Comment lines at the top of the file. */
  header: string[];
  /** Keys given a value in this file (dotted path → value), e.g. the state directory systemd makes. */
  values?: Record<string, unknown>;
}

/**
 * A config file that validates once its required keys are filled: every key is shown with its
 * description, type and default; keys left at their default are commented out, required keys and
 * `values` are set (a required key is left empty, so the app names it until it is filled).
 */
export function renderYaml(keys: KeyDoc[], o: YamlOptions): string {
  const values = o.values ?? {};
  const dotted = (k: KeyDoc) => k.path.join(".");
  const live = (k: KeyDoc): boolean =>
    k.section ? keys.some((c) => dotted(c).startsWith(`${dotted(k)}.`) && !c.section && live(c)) : k.required || dotted(k) in values;
  const out = o.header.map((l) => (l ? `# ${l}` : "#"));
  for (const k of keys) {
    const indent = "  ".repeat(k.path.length - 1);
    const on = live(k);
    const about = `${need(k)}; ${k.type}`;
    out.push("");
    for (const l of wrap(`${k.description ?? ""} (${about})`, 110 - indent.length)) out.push(`${indent}# ${l}`);
    const key = k.path.at(-1)!;
    // A required list is shown empty ([]), so the app's error names what it needs ("at least one ...").
    const value =
      dotted(k) in values ? JSON.stringify(values[dotted(k)]) : k.section ? "" : k.type.startsWith("list of") ? "[]" : (k.default ?? "");
    const line = `${indent}${key}:${value === "" ? "" : ` ${value}`}`;
    out.push(on ? line : `${indent}# ${line.slice(indent.length)}`);
    // A map's entries: one example entry, commented out, whose keys follow.
    if (k.section && k.type.startsWith("map of")) out.push(`${indent}  # ${entryName(key)}:`);
  }
  return `${out.join("\n")}\n`;
}

function need(k: KeyDoc): string {
  if (k.required) return "required";
  if (k.requiredInSection) return k.section ? "optional" : "required in its section";
  return k.default !== undefined ? `default ${k.default}` : "optional";
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** One Markdown table of an app's keys. */
export function renderMarkdown(keys: KeyDoc[]): string {
  const rows = keys.map(
    (k) =>
      `| \`${k.path.join(".")}\` | ${cell(k.type)} | ${k.required ? "**required**" : k.requiredInSection && !k.section ? "required in its section" : k.default !== undefined ? `\`${cell(k.default)}\`` : k.section ? "" : "unset"} | ${cell(k.description ?? "")} |`,
  );
  return ["| key | type | default | description |", "|---|---|---|---|", ...rows].join("\n") + "\n";
}
