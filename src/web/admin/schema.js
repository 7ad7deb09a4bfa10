// The node forms come from the flow format's JSON Schema (sip-config/ivr/flow.schema.json, which the
// validator's tests keep equal to src/ivr/flow.rs), so a field added to the format appears in the
// editor without a change here.

const refName = (p) => p?.$ref?.split("/").pop();

// A property and the alternatives it allows (`anyOf: [X, null]` is how optional fields are written).
const alternatives = (prop) => [prop, ...(prop.anyOf ?? []), ...(prop.oneOf ?? [])].filter((m) => m.type !== "null");

/**
 * How the inspector edits a property: prompt (text or {wav} per language), ref (a node name), num,
 * bool, str, char (one key), list (strings), options / cases (menus' and branches' lists), or json.
 */
export function kindOf(name, prop) {
  if (name === "options") return "options";
  if (name === "cases") return "cases";
  const alts = alternatives(prop);
  const refs = alts.map(refName).filter(Boolean);
  if (refs.some((r) => /prompt/i.test(r))) return "prompt";
  if (refs.some((r) => /noderef/i.test(r))) return "ref";
  if (refs.includes("key")) return "char";
  if (refs.includes("seconds") || refs.includes("count")) return "num";
  const types = alts.flatMap((m) => [m.type ?? []].flat()).filter((t) => t !== "null");
  const enums = alts.flatMap((m) => m.enum ?? []);
  if (types.includes("boolean")) return "bool";
  if (types.includes("integer") || types.includes("number")) return "num";
  if (types.includes("array") && alts.some((m) => m.items?.type === "string")) return "list";
  if (enums.length && enums.every((e) => typeof e === "string" && e.length === 1)) return "char";
  if (types.includes("string") || enums.length || (refs.length && !types.includes("object"))) return "str";
  return "json";
}

/** Node type → its fields `[{ name, kind, optional, def, hint, placeholder }]`, in the schema's order. */
export function nodeTypes(schema) {
  const defs = schema?.$defs ?? {};
  const names = defs.node?.properties?.type?.enum ?? [];
  const out = {};
  for (const type of names) {
    const def = defs[type];
    if (!def?.properties) continue;
    const required = new Set(def.required ?? []);
    out[type] = Object.entries(def.properties)
      .filter(([name]) => name !== "type")
      .map(([name, prop]) => {
        const enums = alternatives(prop).flatMap((m) => m.enum ?? []).filter((e) => e !== null);
        return {
          name,
          kind: kindOf(name, prop),
          optional: !required.has(name),
          def: prop.default,
          hint: prop.description,
          placeholder: name === "on_failure" ? "the agent node" : enums.length && prop.default === undefined ? enums.join(" / ") : undefined,
        };
      });
  }
  return out;
}

/** Fetches the schema the binary carries; the field table, or null when it cannot be had. */
export async function loadNodeTypes() {
  try {
    const resp = await fetch("/admin/ivr/flow.schema.json");
    if (!resp.ok) return null;
    return nodeTypes(await resp.json());
  } catch {
    return null;
  }
}
