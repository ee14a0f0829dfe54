// What publishing would change on a stage: the draft's APIs and settings against the snapshot of
// the release the stage serves. Pure functions (no DOM), so tests/console/checks.test.mjs runs
// them under node.

// What the admin API adds to a draft API that is not part of it.
const BOOKKEEPING = new Set(['version', 'created_at', 'updated_at']);

/** `value` with object keys sorted and bookkeeping fields dropped, as JSON (for comparing). */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value)
      .filter((key) => !BOOKKEEPING.has(key) && value[key] !== null && value[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The difference between the draft (`service`: the admin API's service, `apis`: its draft APIs)
 * and `served` (a release's service snapshot, its APIs under `api`), for `stage`:
 * `{added: [name], removed: [name], changed: [{name, fields: [field]}], settings: [field]}`.
 */
export function draftDiff(service, apis, served, stage) {
  const before = new Map((served?.api ?? []).map((api) => [api.name, api]));
  const after = new Map(apis.map((api) => [api.name, api]));
  const added = [...after.keys()].filter((name) => !before.has(name));
  const removed = [...before.keys()].filter((name) => !after.has(name));
  const changed = [];
  for (const [name, api] of after) {
    const old = before.get(name);
    if (!old) continue;
    const keys = new Set([...Object.keys(api), ...Object.keys(old)].filter((key) => !BOOKKEEPING.has(key)));
    const fields = [...keys].filter((key) => canonical(api[key]) !== canonical(old[key])).sort();
    if (fields.length) changed.push({ name, fields });
  }
  const settings = [];
  if (canonical(service.hosts ?? []) !== canonical(served?.hosts ?? [])) settings.push('custom domains');
  if (canonical(service.stage_variables?.[stage] ?? {}) !== canonical(served?.stage_variables?.[stage] ?? {})) settings.push(`${stage} variables`);
  return { added, removed, changed, settings };
}

/** True when publishing would change nothing the stage serves. */
export const isUnchanged = (diff) => diff.added.length + diff.removed.length + diff.changed.length + diff.settings.length === 0;

/** The difference as short lines for people: `added list-pets`, `changed get-item: path`. */
export function diffLines(diff) {
  return [
    ...diff.added.map((name) => `added ${name}`),
    ...diff.changed.map(({ name, fields }) => `changed ${name}: ${fields.join(', ')}`),
    ...diff.removed.map((name) => `removed ${name}`),
    ...diff.settings.map((setting) => `changed ${setting}`),
  ];
}
