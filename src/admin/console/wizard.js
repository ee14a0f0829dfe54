// The four-step API editor, for create and edit, as the Tencent console has it:
// 1 service, 2 frontend (name, type, path, method, auth, CORS, input parameters), 3 SCF backend
// (function picked from the list, timeout, response integration, Base64 encoding), 4 responses
// (samples, error codes). Next, or a step's tab further on, runs the client-side checks of
// checks.js for each step on the way; Enter in a field submits nothing. Save sends the API, and
// an error of the admin API (authoritative) takes the user to the step and field it names.

import { call, segment } from './api.js';
import { busy, clearFieldErrors, errorBanner, field, h, showFieldError, toast, uid } from './ui.js';
import { functionPicker, settle } from './function-picker.js';
import { base64Editor } from './base64-editor.js';
import { checkBackend, checkFrontend, fieldByPlace, fieldWords, functionFields, functionKey, messageForField, stepOfField } from './checks.js';

const STEPS = ['Service', 'Frontend', 'Backend', 'Response'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'ANY'];
const PARAM_TYPES = ['string', 'int', 'long', 'float', 'double', 'boolean', 'date'];
const PROTOCOLS = { http: ['http&https', 'http', 'https'], ws: ['ws&wss', 'ws', 'wss'] };
const READ_ONLY = ['version', 'created_at', 'updated_at'];

/** Fetches what the wizard needs and returns its page; `apiName` null creates a new API. */
export async function renderWizard(serviceId, apiName) {
  const base = `/v1/services/${segment(serviceId)}`;
  const [services, functions, existing, siblings] = await Promise.all([
    call('GET', '/v1/services?limit=100'),
    call('GET', '/v1/functions?limit=100'),
    apiName === null ? null : call('GET', `${base}/apis/${segment(apiName)}`),
    call('GET', `${base}/apis?limit=100`),
  ]);
  const api = existing
    ? structuredClone(existing)
    : { method: 'GET', protocol: 'http&https', auth: 'none', function: { namespace: 'default', qualifier: '$LATEST' }, timeout: 15, integrated_response: false, response_type: 'json', param: [], error_code: [] };
  for (const key of READ_ONLY) delete api[key];
  // The names an API of this service may not take (its own, when edited, it may keep).
  const takenNames = siblings.apis.map((sibling) => sibling.name).filter((name) => name !== apiName);
  const wizard = { serviceId, apiName, version: existing?.version, api, functions: functions.functions, services: services.services, takenNames, step: 1 };
  const service = wizard.services.find((candidate) => candidate.id === serviceId);

  const stepList = h('ol', { class: 'steps', 'aria-label': 'Steps' });
  const body = h('div', { class: 'step-body' });
  const back = h('button', { type: 'button' }, 'Back');
  const next = h('button', { type: 'submit', class: 'primary' });
  const form = h('form', { class: 'card wizard', novalidate: true, 'aria-labelledby': 'step-title' }, body, h('div', { class: 'wizard-nav' }, back, next, h('a', { class: 'button subtle', href: `#/services/${segment(serviceId)}` }, 'Cancel')));
  wizard.form = form;
  wizard.body = body;

  const show = (step, focusField) => {
    wizard.step = step;
    stepList.replaceChildren(
      ...STEPS.map((label, index) => {
        const number = index + 1;
        // Each step is a button: going back is free, going forward runs the checks on the way.
        const tab = h('button', { type: 'button', class: 'step-tab', 'aria-current': number === step ? 'step' : null, dataset: { step: String(number) } }, h('span', { class: 'step-number', 'aria-hidden': 'true' }, String(number)), h('span', { class: 'sr-only' }, `Step ${number}: `), label);
        tab.addEventListener('click', () => goTo(number));
        return h('li', { class: number === step ? 'current' : number < step ? 'done' : '' }, tab);
      }),
    );
    body.replaceChildren(h('h2', { id: 'step-title', tabindex: -1 }, `Step ${step} of 4: ${STEP_TITLES[step - 1]}`), ...STEP_VIEWS[step - 1](wizard, show));
    back.hidden = step === 1;
    next.textContent = step < 4 ? 'Next' : apiName === null ? 'Create API' : 'Save API';
    const focusTarget = focusField ? body.querySelector(`[data-field="${CSS.escape(focusField)}"]`) : body.querySelector('h2');
    focusTarget?.focus();
  };

  const problemsOf = (step) => (step === 2 ? checkFrontend(wizard.api, { takenNames: wizard.takenNames }) : step === 3 ? checkBackend(wizard.api, wizard.functions) : []);
  /** Goes to `target`; forward, the first step on the way with a problem stops it there. */
  const goTo = (target) => {
    readStep(wizard);
    clearFieldErrors(form);
    form.querySelector(':scope > .banner.error')?.remove();
    for (let step = wizard.step; step < target; step += 1) {
      const problems = problemsOf(step);
      if (problems.length > 0) {
        if (step !== wizard.step) show(step);
        showProblems(wizard, problems);
        return;
      }
    }
    if (target !== wizard.step) show(target);
  };

  back.addEventListener('click', () => goTo(wizard.step - 1));
  // Enter in a field does not submit the wizard (a half-filled step would move on, and step 4
  // would create the API at once): only the Next / Create button does, by click or key.
  form.addEventListener('keydown', (event) => {
    const target = event.target;
    if (event.key === 'Enter' && (target instanceof HTMLSelectElement || (target instanceof HTMLInputElement && !['button', 'submit', 'reset', 'checkbox', 'radio'].includes(target.type)))) {
      event.preventDefault();
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (wizard.step < 4) {
      goTo(wizard.step + 1);
      return;
    }
    readStep(wizard);
    clearFieldErrors(form);
    form.querySelector(':scope > .banner.error')?.remove();
    await busy(next, () => save(wizard, show));
  });

  const title = apiName === null ? 'Create API' : `Edit API ${apiName}`;
  const page = h(
    'section',
    { class: 'page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${segment(serviceId)}` }, service?.name ?? serviceId), ' / ', h('span', { 'aria-current': 'page' }, title)),
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, title)),
    stepList,
    form,
  );
  show(1);
  return page;
}

const STEP_TITLES = ['the service', 'frontend', 'SCF backend', 'responses'];
const STEP_VIEWS = [serviceStep, frontendStep, backendStep, responseStep];

/**
 * Inline errors for `problems` (`[{field, message}]`): every message of a field under it, a
 * summary that counts the fields marked (announced), focus on the first.
 */
function showProblems(wizard, problems) {
  const byField = new Map();
  for (const problem of problems) byField.set(problem.field, [...(byField.get(problem.field) ?? []), problem.message]);
  let marked = 0;
  const unplaced = [];
  for (const [fieldName, messages] of byField) {
    if (showFieldError(wizard.form, fieldName, messages)) marked += 1;
    else unplaced.push(...messages.map((message) => `${fieldWords(fieldName)}: ${message}.`));
  }
  const summary = marked === 0 ? '' : marked === 1 ? 'Fix the field marked below.' : `Fix the ${marked} fields marked below.`;
  errorBanner(wizard.form, [summary, ...unplaced].filter(Boolean).join(' '));
  wizard.form.querySelector('[aria-invalid="true"]')?.focus();
}

/** The API as the admin API takes it: blanks dropped, the other protocol's fields dropped. */
export function payload(api) {
  const out = structuredClone(api);
  const isWebSocket = /^ws/.test(out.protocol ?? '');
  for (const key of isWebSocket ? ['function', 'base64'] : ['register', 'transport', 'cleanup']) delete out[key];
  if (out.base64 === 'off') delete out.base64;
  if (out.base64 !== 'rules') delete out.base64_rule;
  if (out.auth !== 'oauth') delete out.oauth;
  if (!out.cors) delete out.cors_origins;
  return prune(out);
}

function prune(value) {
  if (Array.isArray(value)) {
    const items = value.map(prune).filter((item) => item !== undefined);
    return items.length ? items : undefined;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, prune(item)])
      .filter(([, item]) => item !== undefined);
    return entries.length ? Object.fromEntries(entries) : undefined;
  }
  if (typeof value === 'string') {
    return value.trim() === '' ? undefined : value;
  }
  return value ?? undefined;
}

async function save(wizard, show) {
  const base = `/v1/services/${segment(wizard.serviceId)}/apis`;
  const body = payload(wizard.api);
  try {
    const saved =
      wizard.apiName === null
        ? await call('POST', base, body)
        : await call('PUT', `${base}/${segment(wizard.apiName)}`, body, { ifMatch: wizard.version });
    toast(`API ${saved.name} ${wizard.apiName === null ? 'created' : 'saved'}. Publish the service to a stage to serve it.`);
    location.hash = `#/services/${segment(wizard.serviceId)}`;
  } catch (error) {
    // A taken name is a conflict without a field, but it is the name's fault.
    const at = error.field ?? (error.code === 'ResourceInUse.AlreadyExists' ? 'name' : null);
    if (at) {
      const step = stepOfField(at);
      const fieldName = fieldByPlace(at, wizard.api);
      show(step);
      if (showFieldError(wizard.form, fieldName, messageForField(error.message))) {
        errorBanner(wizard.form, `The gateway refused the API: ${fieldWords(at)}: ${error.message}`);
        wizard.form.querySelector(`[data-field="${CSS.escape(fieldName)}"]`)?.focus();
        return;
      }
    }
    errorBanner(wizard.form, error.field ? `${fieldWords(error.field)}: ${error.message}` : error.message);
    wizard.form.querySelector('h2')?.focus();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the form back into the API

/** Copies the current step's inputs into `wizard.api` (lists of the step are re-read whole). */
function readStep(wizard) {
  if (wizard.step === 2) wizard.api.param = [];
  if (wizard.step === 4) wizard.api.error_code = [];
  if (wizard.step === 3) wizard.api.base64_rule = [];
  for (const control of wizard.body.querySelectorAll('[data-field]')) {
    // The service is chosen by the route; the function creator's inputs describe a function.
    if (control.dataset.field === 'service' || control.closest('.function-creator')) continue;
    // A disabled control is not part of the API (a converted code while "Convert" is off).
    if (control.disabled) continue;
    assign(wizard.api, control.dataset.field, valueOf(control));
  }
}

function valueOf(control) {
  if (control.type === 'checkbox') return control.checked;
  if (control.type === 'number') return control.value === '' ? undefined : Number(control.value);
  if (control.dataset.list === 'comma') {
    const items = control.value.split(',').map((item) => item.trim()).filter(Boolean);
    return items.length ? items : undefined;
  }
  return control.value;
}

function assign(api, fieldName, value) {
  const listItem = /^(param|error_code|base64_rule) #(\d+)\.([a-z_]+)$/.exec(fieldName);
  if (listItem) {
    const list = (api[listItem[1]] ??= []);
    (list[Number(listItem[2]) - 1] ??= {})[listItem[3]] = value;
    return;
  }
  if (['function', 'register', 'transport', 'cleanup'].includes(fieldName)) {
    (api[fieldName] ??= {}).name = value;
    return;
  }
  const dot = fieldName.indexOf('.');
  if (dot > 0) {
    (api[fieldName.slice(0, dot)] ??= {})[fieldName.slice(dot + 1)] = value;
    return;
  }
  api[fieldName] = value;
}

// ---------------------------------------------------------------------------------------------
// The steps

const select = (options, value, attributes = {}) =>
  h('select', attributes, options.map((option) => (Array.isArray(option) ? h('option', { value: option[0], selected: option[0] === value }, option[1]) : h('option', { value: option, selected: option === value }, option))));

function serviceStep(wizard) {
  const choice = select(
    wizard.services.map((service) => [service.id, `${service.name} (${service.id})`]),
    wizard.serviceId,
    { disabled: wizard.apiName !== null },
  );
  choice.addEventListener('change', () => {
    location.hash = `#/services/${segment(choice.value)}/apis/new`;
  });
  return [
    field('Service', choice, { fieldName: 'service', hint: wizard.apiName === null ? 'The API is added to this service’s draft; publishing the service serves it.' : 'An API stays in its service.' }),
  ];
}

function frontendStep(wizard, show) {
  const api = wizard.api;
  const kind = /^ws/.test(api.protocol ?? '') ? 'ws' : 'http';
  const typeName = uid('type');
  const typeChoice = h(
    'fieldset',
    { class: 'choice' },
    h('legend', {}, 'Frontend type'),
    [
      ['http', 'HTTP & HTTPS'],
      ['ws', 'WS & WSS (WebSocket)'],
    ].map(([value, label]) => {
      const id = uid('type');
      const radio = h('input', { type: 'radio', name: typeName, id, value, checked: value === kind });
      radio.addEventListener('change', () => {
        readStep(wizard);
        api.protocol = PROTOCOLS[value][0];
        show(2, 'protocol');
      });
      return h('label', { for: id, class: 'inline' }, radio, ` ${label}`);
    }),
  );

  const name = h('input', { value: api.name ?? '', autocomplete: 'off' });
  const auth = select(
    [
      ['none', 'None'],
      ['key_pair', 'Key pair (usage plans)'],
      ['oauth', 'OAuth 2.0 (JWT)'],
    ],
    api.auth ?? 'none',
  );
  const oauth = h(
    'fieldset',
    { class: 'nested', hidden: (api.auth ?? 'none') !== 'oauth' },
    h('legend', {}, 'OAuth 2.0'),
    field('Public key (JWK JSON)', h('textarea', { rows: 3, class: 'mono', value: api.oauth?.public_key ?? '' }), { fieldName: 'oauth.public_key' }),
    h(
      'div',
      { class: 'row' },
      field('Algorithm', select([['', 'from the key'], 'RS256', 'RS384', 'RS512', 'ES256'], api.oauth?.algorithm ?? ''), { fieldName: 'oauth.algorithm' }),
      field('Token location', h('input', { value: api.oauth?.token_location ?? '', placeholder: 'header:Authorization' }), { fieldName: 'oauth.token_location' }),
    ),
  );
  const keyPairHint = h(
    'p',
    { class: 'notice-inline', dataset: { testid: 'key-pair-hint' }, hidden: (api.auth ?? 'none') !== 'key_pair' },
    'A key pair works only on a stage that a usage plan holding it is bound to: after publishing, bind a usage plan with your key pairs to the stage (Usage plans page), or every call gets 403.',
  );
  auth.addEventListener('change', () => {
    oauth.hidden = auth.value !== 'oauth';
    keyPairHint.hidden = auth.value !== 'key_pair';
  });
  const cors = h('input', { type: 'checkbox', checked: Boolean(api.cors) });
  const origins = h('input', { value: (api.cors_origins ?? []).join(', '), placeholder: '* (any origin)', dataset: { list: 'comma' } });
  const originsField = field('Allowed origins', origins, { fieldName: 'cors_origins', hint: 'Comma-separated; empty means any origin.' });
  originsField.hidden = !api.cors;
  cors.addEventListener('change', () => {
    originsField.hidden = !cors.checked;
  });
  cors.dataset.field = 'cors';
  const corsId = uid('cors');
  cors.id = corsId;

  return [
    field('API name', name, { fieldName: 'name', required: true, hint: 'At most 60 characters, unique in the service.' }),
    field('Description', h('textarea', { rows: 2, value: api.description ?? '' }), { fieldName: 'description' }),
    typeChoice,
    h(
      'div',
      { class: 'row' },
      field('Protocol', select(PROTOCOLS[kind], api.protocol ?? PROTOCOLS[kind][0]), { fieldName: 'protocol' }),
      field('Method', select(METHODS, api.method ?? 'GET'), { fieldName: 'method' }),
      field('Authentication', auth, { fieldName: 'auth' }),
    ),
    keyPairHint,
    field('Path', h('input', { value: api.path ?? '', class: 'mono', autocomplete: 'off', placeholder: '/items/{id}' }), {
      fieldName: 'path',
      required: true,
      hint: 'Served at /<stage><path>. Declare each {param} below as a path parameter.',
    }),
    oauth,
    h('div', { class: 'field' }, h('label', { for: corsId, class: 'inline' }, cors, ' Enable CORS')),
    originsField,
    paramsEditor(wizard, show),
  ];
}

/** The input parameters: one row per parameter, named by place (`param #2.type`). */
function paramsEditor(wizard, show) {
  const params = wizard.api.param ?? [];
  const add = h('button', { type: 'button', dataset: { add: 'param' } }, 'Add parameter');
  add.addEventListener('click', () => {
    readStep(wizard);
    wizard.api.param.push({ position: 'query', type: 'string' });
    show(2, `param #${wizard.api.param.length}.name`);
  });
  // `heading`: the column's, shown before the input where the table is stacked (a phone).
  const cell = (label, control, fieldName, heading) => {
    control.dataset.field = fieldName;
    control.setAttribute('aria-label', label);
    control.id = uid('p');
    return h('td', { class: control.type === 'checkbox' ? 'check' : null, dataset: { label: heading } }, control, h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true }));
  };
  const rows = params.map((param, index) => {
    const at = (key) => `param #${index + 1}.${key}`;
    const number = index + 1;
    const remove = h('button', { type: 'button', class: 'small', 'aria-label': `Remove parameter ${number}` }, 'Remove');
    remove.addEventListener('click', () => {
      readStep(wizard);
      wizard.api.param.splice(index, 1);
      show(2);
      wizard.body.querySelector('[data-add="param"]')?.focus();
    });
    return h(
      'tr',
      {},
      cell(`Parameter ${number} name`, h('input', { value: param.name ?? '', autocomplete: 'off' }), at('name'), 'Name'),
      cell(`Parameter ${number} location`, select(['query', 'header', 'path'], param.position ?? 'query'), at('position'), 'Location'),
      cell(`Parameter ${number} data type`, select(PARAM_TYPES, param.type ?? 'string'), at('type'), 'Data type'),
      cell(`Parameter ${number} required`, h('input', { type: 'checkbox', checked: Boolean(param.required) }), at('required'), 'Required'),
      cell(`Parameter ${number} default`, h('input', { value: param.default ?? '', autocomplete: 'off' }), at('default'), 'Default'),
      cell(`Parameter ${number} sample`, h('input', { value: param.sample ?? '', autocomplete: 'off' }), at('sample'), 'Sample'),
      cell(`Parameter ${number} description`, h('input', { value: param.desc ?? '', autocomplete: 'off' }), at('desc'), 'Description'),
      h('td', {}, remove),
    );
  });
  return h(
    'fieldset',
    { class: 'list-editor' },
    h('legend', {}, 'Input parameters'),
    rows.length
      ? h('table', { class: 'stack' }, h('thead', {}, h('tr', {}, ['Name', 'Location', 'Data type', 'Required', 'Default', 'Sample', 'Description', ''].map((heading) => h('th', { scope: 'col' }, heading)))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No parameters declared.'),
    add,
  );
}

function backendStep(wizard, show) {
  const api = wizard.api;
  const labels = { function: 'Function', register: 'Register function', transport: 'Transport function', cleanup: 'Cleanup function' };
  const groups = functionFields(api).map((key) =>
    functionPicker(key, labels[key], api[key], wizard.functions, {
      required: key === 'function' || key === 'transport',
      onChange: (changed) => {
        readStep(wizard);
        settle((api[key] ??= {}), wizard.functions, changed);
        show(3, changed);
      },
    }),
  );
  const creator = functionCreator(async (created) => {
    const listed = await call('GET', '/v1/functions?limit=100');
    wizard.functions = listed.functions;
    readStep(wizard);
    const key = functionFields(api)[0];
    api[key] = { name: created.name, namespace: created.namespace ?? 'default', qualifier: created.qualifier ?? '$LATEST' };
    toast(`Function ${functionKey(created)} created and selected.`);
    show(3, key);
  });
  const integrated = h('input', { type: 'checkbox', checked: Boolean(api.integrated_response), id: uid('integrated') });
  integrated.dataset.field = 'integrated_response';
  return [
    h('p', { class: 'muted' }, 'Backend type: SCF (Serverless Cloud Function).'),
    ...groups,
    h('details', { class: 'nested' }, h('summary', {}, 'Create a function'), creator),
    h(
      'div',
      { class: 'row' },
      field('Backend timeout (seconds)', h('input', { type: 'number', min: '0', step: 'any', value: api.timeout ?? '' }), { fieldName: 'timeout', hint: 'Past it the client gets 504. Default 15.' }),
    ),
    // A WebSocket API has no HTTP response to integrate: its transport function's replies are
    // the messages.
    /^ws/.test(api.protocol ?? '')
      ? null
      : h(
          'div',
          { class: 'field' },
          h('label', { for: integrated.id, class: 'inline' }, integrated, ' Response integration'),
          h('p', { class: 'hint' }, 'On: the function returns {statusCode, headers, body} and the gateway builds the HTTP response from it. Off: its return value is the body.'),
        ),
    /^ws/.test(api.protocol ?? '')
      ? null
      : base64Editor(api, {
          reread: () => readStep(wizard),
          rerender: (focusField) => show(3, focusField),
        }),
  ];
}

function responseStep(wizard, show) {
  const api = wizard.api;
  const codes = api.error_code ?? [];
  const add = h('button', { type: 'button', dataset: { add: 'error_code' } }, 'Add error code');
  add.addEventListener('click', () => {
    readStep(wizard);
    wizard.api.error_code.push({});
    show(4, `error_code #${wizard.api.error_code.length}.code`);
  });
  const cell = (label, control, fieldName, heading) => {
    control.dataset.field = fieldName;
    control.setAttribute('aria-label', label);
    control.id = uid('e');
    return h('td', { dataset: { label: heading } }, control, h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true }));
  };
  // Tencent's error-code conversion (NeedConvert, ConvertedCode) changes an HTTP response's
  // status; a WebSocket API's functions answer no HTTP response, so it has none.
  const converts = !/^ws/.test(api.protocol ?? '');
  const rows = codes.map((code, index) => {
    const number = index + 1;
    const at = (key) => `error_code #${number}.${key}`;
    const remove = h('button', { type: 'button', class: 'small', 'aria-label': `Remove error code ${number}` }, 'Remove');
    remove.addEventListener('click', () => {
      readStep(wizard);
      wizard.api.error_code.splice(index, 1);
      show(4);
      wizard.body.querySelector('[data-add="error_code"]')?.focus();
    });
    const conversion = [];
    if (converts) {
      const on = code.converted_code !== undefined;
      const converted = h('input', { type: 'number', step: '1', min: '200', max: '599', value: code.converted_code ?? '', disabled: !on });
      const convert = h('input', { type: 'checkbox', checked: on, id: uid('convert'), 'aria-label': `Error code ${number} needs conversion` });
      convert.addEventListener('change', () => {
        converted.disabled = !convert.checked;
        if (convert.checked) converted.focus();
      });
      conversion.push(
        h('td', { class: 'check', dataset: { label: 'Convert' } }, convert),
        cell(`Error code ${number} converted code`, converted, at('converted_code'), 'Converted code'),
      );
    }
    return h(
      'tr',
      {},
      cell(`Error code ${number} code`, h('input', { type: 'number', step: '1', value: code.code ?? '' }), at('code'), 'Code'),
      cell(`Error code ${number} message`, h('input', { value: code.message ?? '', autocomplete: 'off' }), at('message'), 'Message'),
      cell(`Error code ${number} description`, h('input', { value: code.description ?? '', autocomplete: 'off' }), at('description'), 'Description'),
      conversion,
      h('td', {}, remove),
    );
  });
  const headings = ['Code', 'Message', 'Description', ...(converts ? ['Convert', 'Converted code'] : []), ''];
  return [
    field('Response type', select(['json', 'html', 'text', 'xml', 'binary'], api.response_type ?? 'json'), { fieldName: 'response_type' }),
    field('Success response sample', h('textarea', { rows: 3, class: 'mono', value: api.success_response_sample ?? '' }), { fieldName: 'success_response_sample' }),
    field('Failure response sample', h('textarea', { rows: 3, class: 'mono', value: api.failure_response_sample ?? '' }), { fieldName: 'failure_response_sample' }),
    h(
      'fieldset',
      { class: 'list-editor' },
      h('legend', {}, 'Error codes'),
      rows.length ? h('table', { class: 'stack' }, h('thead', {}, h('tr', {}, headings.map((heading) => h('th', { scope: 'col' }, heading)))), h('tbody', {}, rows)) : h('p', { class: 'muted' }, 'No error codes documented.'),
      add,
    ),
    h(
      'p',
      { class: 'muted' },
      converts
        ? 'Samples and error codes are documentation: they appear in the generated docs and the OpenAPI export. An error code set to convert also changes what clients get: a response of the function with that HTTP status reaches the client with the converted code instead.'
        : 'Samples and error codes are documentation: they appear in the generated docs and the OpenAPI export.',
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Creating a function (step 3 and the functions page)

/**
 * Inputs that create a function; `onCreated(function)` runs after the admin API accepted it.
 * Not a <form> (step 3 sits inside the wizard's form), so Enter is handled here.
 */
export function functionCreator(onCreated) {
  const runtime = select(['custom', 'remote'], 'custom');
  const localOnly = h(
    'div',
    { class: 'row' },
    field('Code folder', h('input', { autocomplete: 'off', class: 'mono', placeholder: '/srv/functions/echo' }), { fieldName: 'code', hint: 'Holds an executable bootstrap (SCF custom runtime); relative to the config file.' }),
    field('Instances', h('input', { type: 'number', min: '1', step: '1', value: '1' }), { fieldName: 'instances' }),
  );
  const remoteOnly = field('Invoke URL', h('input', { autocomplete: 'off', class: 'mono', placeholder: 'the URL that takes the event as a POST body' }), { fieldName: 'invoke_url' });
  remoteOnly.hidden = true;
  runtime.addEventListener('change', () => {
    localOnly.hidden = runtime.value !== 'custom';
    remoteOnly.hidden = runtime.value !== 'remote';
  });
  const create = h('button', { type: 'button', class: 'primary' }, 'Create function');
  const group = h(
    'div',
    { class: 'function-creator' },
    h(
      'div',
      { class: 'row' },
      field('Name', h('input', { autocomplete: 'off' }), { fieldName: 'name', required: true }),
      field('Namespace', h('input', { autocomplete: 'off', value: 'default' }), { fieldName: 'namespace' }),
      field('Version (qualifier)', h('input', { autocomplete: 'off', value: '$LATEST' }), { fieldName: 'qualifier' }),
      field('Runtime', runtime, { fieldName: 'runtime' }),
    ),
    localOnly,
    remoteOnly,
    h('div', { class: 'actions' }, create),
  );
  const submit = () =>
    busy(create, async () => {
      clearFieldErrors(group);
      group.querySelector(':scope > .banner.error')?.remove();
      const spec = {};
      for (const control of group.querySelectorAll('[data-field]')) {
        if (control.closest('[hidden]')) continue;
        const value = control.type === 'number' ? (control.value === '' ? undefined : Number(control.value)) : control.value.trim();
        if (value !== '' && value !== undefined) spec[control.dataset.field] = value;
      }
      try {
        await onCreated(await call('POST', '/v1/functions', spec));
      } catch (error) {
        if (!(error.field && showFieldError(group, error.field, messageForField(error.message)))) errorBanner(group, error.message);
      }
    });
  create.addEventListener('click', submit);
  group.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && event.target instanceof HTMLInputElement) {
      event.preventDefault();
      event.stopPropagation();
      submit();
    }
  });
  return group;
}
