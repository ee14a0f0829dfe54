// Client-side checks of the API wizard, for the mistakes worth catching before a round trip: a
// name over 60 characters or taken by another API of the service, a path without its leading `/`,
// a `{param}` of the path that is not declared, and a function that is not in the function list.
// Every problem of a field is reported (the wizard shows them all). The admin API validates
// everything again on save and stays the authority; these only answer sooner, next to the field.
// Pure functions (no DOM), so tests/console/checks.test.mjs runs them under node.

/** The longest API name the gateway accepts (the config file's rule). */
export const MAX_API_NAME_CHARS = 60;

/** The `{name}` placeholders of a frontend path, in order. */
export function pathPlaceholders(path) {
  return [...String(path ?? '').matchAll(/\{([^{}]*)\}/g)].map((match) => match[1]);
}

/** `namespace/name:qualifier` with the gateway's defaults. */
export function functionKey(reference) {
  const namespace = reference?.namespace || 'default';
  const qualifier = reference?.qualifier || '$LATEST';
  return `${namespace}/${reference?.name ?? ''}:${qualifier}`;
}

/**
 * Step 2 (frontend): `[{field, message}]`, fields named as the admin API names them
 * (`name`, `path`, `param #2.name`).
 */
export function checkFrontend(api, { takenNames = [] } = {}) {
  const problems = [];
  const name = api.name ?? '';
  const length = [...name].length;
  if (length === 0) {
    problems.push({ field: 'name', message: 'required: 1 to 60 characters' });
  } else if (length > MAX_API_NAME_CHARS) {
    problems.push({ field: 'name', message: `${length} characters long; at most ${MAX_API_NAME_CHARS} are allowed` });
  } else if (takenNames.includes(name)) {
    problems.push({ field: 'name', message: `the service already has an API named ${name}; choose another name` });
  }
  const path = api.path ?? '';
  if (path === '') {
    problems.push({ field: 'path', message: 'required, e.g. /items/{id}' });
  } else if (!/^(=|\^~)?\//.test(path)) {
    problems.push({ field: 'path', message: 'must start with / (or =/ for an exact path, ^~/ for a priority prefix)' });
  }
  const params = api.param ?? [];
  params.forEach((param, index) => {
    if (!param.name) {
      problems.push({ field: `param #${index + 1}.name`, message: 'required: the parameter needs a name' });
    }
  });
  const declared = new Set(params.filter((param) => param.position === 'path').map((param) => param.name));
  const undeclared = pathPlaceholders(path).filter((placeholder) => !declared.has(placeholder));
  if (undeclared.length > 0) {
    const list = undeclared.map((placeholder) => `{${placeholder}}`).join(', ');
    problems.push({
      field: 'path',
      message: `${list} ${undeclared.length === 1 ? 'is' : 'are'} in the path but not declared: add an input parameter named ${undeclared.join(', ')} with location "path"`,
    });
  }
  return problems;
}

/** The function fields an API of this protocol has. */
export function functionFields(api) {
  return /^ws/.test(api.protocol ?? '') ? ['register', 'transport', 'cleanup'] : ['function'];
}

/** Step 3 (backend): each named function must be in `functions` (the admin API's list). */
export function checkBackend(api, functions) {
  const problems = [];
  const known = new Set(functions.map(functionKey));
  for (const field of functionFields(api)) {
    const reference = api[field];
    if (!reference?.name) {
      if (field === 'function' || field === 'transport') {
        problems.push({ field, message: 'required: pick a function from the list (or create one)' });
      }
      continue;
    }
    if (!known.has(functionKey(reference))) {
      problems.push({ field, message: `${functionKey(reference)} is not in the function list; pick one from the list or create it first` });
    }
  }
  if (api.timeout !== undefined && !(Number(api.timeout) > 0)) {
    problems.push({ field: 'timeout', message: 'must be a number of seconds above 0' });
  }
  return problems;
}

/** The wizard step (1 to 4) that holds an admin API error's `field`. */
export function stepOfField(field) {
  const root = String(field ?? '').split(/[ .]/)[0];
  if (['function', 'register', 'transport', 'cleanup', 'timeout', 'integrated_response', 'base64', 'base64_rule'].includes(root)) return 3;
  if (['response_type', 'success_response_sample', 'failure_response_sample', 'error_code'].includes(root)) return 4;
  if (root === 'service') return 1;
  return 2;
}

/**
 * The admin API names a parameter or error code by its name or code (`param.id.position`,
 * `error_code.404.message`) once it has one, by its place otherwise (`param #2.name`). The
 * wizard's inputs are named by place; this turns the first form into the second.
 */
export function fieldByPlace(field, api) {
  const match = /^(param|error_code)\.(.+)\.([a-z_]+)$/.exec(String(field ?? ''));
  if (!match) return field;
  const [, list, key, subfield] = match;
  const items = api[list] ?? [];
  const index = items.findIndex((item) => String(list === 'param' ? item.name : item.code) === key);
  return index < 0 ? field : `${list} #${index + 1}.${subfield}`;
}

/**
 * An admin API message as a user reads it: without the config file's `<file>: service ... api
 * ...: field `x`: ` prefix (the message is shown beside x, or after its label) and with the
 * code-style backticks turned into quotes.
 */
export function messageForField(message) {
  return String(message ?? '')
    .replace(/^.*?field `[^`]*`: /, '')
    .replace(/`([^`]*)`/g, '“$1”');
}

/** The admin API's field name as words for a banner: `error_code.404.message` -> `error code 404 message`. */
export function fieldWords(field) {
  return String(field ?? '')
    .replace(/[._#]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Service settings: stage variables as edited (`{stage: [{name, value}]}`, rows in table order).
 * Problems are named by place (`stage_variables.release #2.name`), as the editor's inputs are;
 * a row left wholly blank is not a variable and is not a problem.
 */
export function checkStageVariables(variablesByStage) {
  const problems = [];
  for (const [stage, rows] of Object.entries(variablesByStage)) {
    const seen = new Set();
    rows.forEach((row, index) => {
      const name = row.name.trim();
      const at = `stage_variables.${stage} #${index + 1}.name`;
      if (name === '' && row.value !== '') {
        problems.push({ field: at, message: 'required: a variable needs a name' });
      } else if (name !== '' && seen.has(name)) {
        problems.push({ field: at, message: `${name} is already set on ${stage}; a name may appear once per stage` });
      }
      if (name !== '') seen.add(name);
    });
  }
  return problems;
}

/** The edited rows as the admin API's `stage_variables`: blank rows and variable-less stages dropped. */
export function stageVariablesPayload(variablesByStage) {
  const payload = {};
  for (const [stage, rows] of Object.entries(variablesByStage)) {
    const named = rows.filter((row) => row.name.trim() !== '');
    if (named.length) payload[stage] = Object.fromEntries(named.map((row) => [row.name.trim(), row.value]));
  }
  return payload;
}

/** Host names typed one per line or comma-separated, as a list without blanks. */
export function parseHosts(text) {
  return String(text ?? '')
    .split(/[\s,]+/)
    .map((host) => host.trim())
    .filter(Boolean);
}

/** A usage-plan limit as typed: undefined when blank (no limit), else a whole number or NaN. */
export function parseLimit(text) {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') return undefined;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
}
