// The console's shell and its views: hash routes (#/services, #/services/<id>, its settings, the
// API wizard, the test panel, the generated docs, #/functions, #/usage-plans, #/secrets,
// #/monitoring), the header's data-plane line, and the service page's publish, release history,
// rollback and OpenAPI import and export. Every read and change goes through the admin API (api.js).

import { ApiError, call, download, segment, send, setTokenPrompt } from './api.js';
import { busy, clearFieldErrors, confirmAction, describe, errorBanner, field, formatTime, h, askToken, leaveView, refresh, setRefresh, showError, showFieldError, table, toast, withoutBlanks } from './ui.js';
import { functionCreator, renderWizard } from './wizard.js';
import { functionKey } from './checks.js';
import { serviceSettingsView } from './settings.js';
import { importReport, openApiImportCard } from './openapi-import.js';
import { secretsView, usagePlanFormView, usagePlansView } from './plans.js';
import { monitoringView } from './monitoring.js';

const STAGES = ['release', 'test', 'prepub'];
const PAGE_SIZE = 20;
const main = document.getElementById('main');

setTokenPrompt(askToken);

const decode = decodeURIComponent;
const routes = [
  [/^#\/services(?:\?offset=(\d+))?$/, (offset) => servicesView(Number(offset ?? 0))],
  [/^#\/services\/([^/?]+)$/, (id) => serviceView(decode(id))],
  [/^#\/services\/([^/?]+)\/settings$/, (id) => serviceSettingsView(decode(id))],
  [/^#\/services\/([^/?]+)\/stages\/([^/?]+)\/docs$/, (id, stage) => docsView(decode(id), decode(stage))],
  [/^#\/services\/([^/?]+)\/apis\/new$/, (id) => renderWizard(decode(id), null)],
  [/^#\/services\/([^/?]+)\/apis\/([^/?]+)\/edit$/, (id, name) => renderWizard(decode(id), decode(name))],
  [/^#\/services\/([^/?]+)\/apis\/([^/?]+)\/test$/, (id, name) => testView(decode(id), decode(name))],
  [/^#\/functions$/, () => functionsView()],
  [/^#\/usage-plans$/, () => usagePlansView()],
  [/^#\/usage-plans\/new$/, () => usagePlanFormView(null)],
  [/^#\/usage-plans\/([^/?]+)\/edit$/, (name) => usagePlanFormView(decode(name))],
  [/^#\/secrets$/, () => secretsView()],
  [/^#\/monitoring(?:\?(.*))?$/, (query) => monitoringView(new URLSearchParams(query ?? ''))],
];

// A slow view must not replace a newer one the user has moved on to.
let renderTicket = 0;

/** Renders the view of the current hash; `focusSelector` picks what gets focus afterwards. */
async function route(focusSelector) {
  const hash = location.hash || '#/services';
  if (!hash.startsWith('#/')) return; // an in-page anchor (the skip link)
  const ticket = ++renderTicket;
  leaveView();
  for (const link of document.querySelectorAll('.topbar nav a')) {
    const current = hash.startsWith(link.getAttribute('href'));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const found = routes.map(([pattern, view]) => [pattern.exec(hash), view]).find(([match]) => match);
  let content;
  try {
    content = found ? await found[1](...found[0].slice(1)) : notFound();
  } catch (error) {
    content = h('section', { class: 'page' }, h('h1', { tabindex: -1 }, 'Something went wrong'), h('p', {}, h('a', { href: '#/services' }, 'Back to services')));
    errorBanner(content, describe(error));
  }
  if (ticket !== renderTicket) return;
  main.replaceChildren(content);
  const target = (focusSelector && main.querySelector(focusSelector)) || main.querySelector('h1');
  target?.focus();
  document.title = `${main.querySelector('h1')?.textContent ?? 'Console'} · scfgate`;
}

setRefresh(route);

function notFound() {
  return h('section', { class: 'page' }, h('h1', { tabindex: -1 }, 'Not found'), h('p', {}, h('a', { href: '#/services' }, 'Back to services')));
}

async function updateGatewayLine() {
  try {
    const gateway = await call('GET', '/v1/gateway');
    document.getElementById('gateway-info').textContent = `Data plane ${gateway.listen.join(', ') || '(no HTTP listener)'} · generation ${gateway.generation}`;
  } catch {
    document.getElementById('gateway-info').textContent = '';
  }
}

function pager(total, offset, hashFor) {
  if (total <= PAGE_SIZE) return null;
  const last = Math.min(offset + PAGE_SIZE, total);
  const previous = offset > 0 ? h('a', { class: 'button', href: hashFor(Math.max(0, offset - PAGE_SIZE)) }, 'Previous') : null;
  const next = last < total ? h('a', { class: 'button', href: hashFor(offset + PAGE_SIZE) }, 'Next') : null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, h('span', {}, `${offset + 1}–${last} of ${total}`), previous, next);
}

// ---------------------------------------------------------------------------------------------
// Services

async function servicesView(offset) {
  const data = await call('GET', `/v1/services?offset=${offset}&limit=${PAGE_SIZE}`);
  const name = h('input', { autocomplete: 'off' });
  const description = h('input', { autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'card', novalidate: true, 'aria-labelledby': 'new-service-title' },
    h('h2', { id: 'new-service-title' }, 'New service'),
    h('div', { class: 'row' }, field('Service name', name, { fieldName: 'name', required: true }), field('Description', description, { fieldName: 'description' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create service')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        const created = await call('POST', '/v1/services', withoutBlanks({ name: name.value.trim(), description: description.value.trim() }));
        toast(`Service ${created.name} created (${created.id}).`);
        location.hash = `#/services/${segment(created.id)}`;
      } catch (error) {
        showError(form, error);
      }
    });
  });

  const rows = data.services.map((service) => {
    const serving = Object.entries(service.serving ?? {}).map(([stage, serving]) => `${stage}: #${serving.release_id}`).join(', ');
    const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete service ${service.name}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction('Delete service', `Delete service ${service.name} (${service.id}) and its APIs and releases?`, 'Delete service'))) return;
      try {
        await call('DELETE', `/v1/services/${segment(service.id)}`);
        toast(`Service ${service.name} deleted.`);
        await refresh();
      } catch (error) {
        errorBanner(main.querySelector('.page'), describe(error));
      }
    });
    return h(
      'tr',
      {},
      h('td', {}, h('a', { href: `#/services/${segment(service.id)}` }, service.name)),
      h('td', { class: 'mono' }, service.id),
      h('td', {}, String(service.api_count)),
      h('td', {}, serving || h('span', { class: 'muted' }, 'not published')),
      h('td', {}, service.description ?? ''),
      h('td', { class: 'actions-cell' }, remove),
    );
  });
  return h(
    'section',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Services'), h('p', { class: 'muted' }, 'A service groups APIs and is published to stages (release, test, prepub).')),
    form,
    h('h2', {}, `All services (${data.total_count})`),
    table('Services', ['Name', 'ID', 'APIs', 'Serving', 'Description', 'Actions'], rows, 'No services yet: create one above.'),
    pager(data.total_count, offset, (next) => `#/services?offset=${next}`),
  );
}

async function serviceView(id) {
  const base = `/v1/services/${segment(id)}`;
  const [service, apis, releases, functions] = await Promise.all([
    call('GET', base),
    call('GET', `${base}/apis?limit=100`),
    call('GET', `${base}/releases?limit=100`),
    call('GET', '/v1/functions?limit=100'),
  ]);
  const stages = service.stages?.length ? service.stages : STAGES;
  const page = h('section', { class: 'page' });

  const apiRows = apis.apis.map((api) => {
    const apiPath = `#/services/${segment(id)}/apis/${segment(api.name)}`;
    const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete API ${api.name}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction('Delete API', `Delete API ${api.name} from the draft? Stages keep serving their releases until the next publish.`, 'Delete API'))) return;
      try {
        await call('DELETE', `${base}/apis/${segment(api.name)}`, undefined, { ifMatch: api.version });
        toast(`API ${api.name} deleted from the draft.`);
        await refresh();
      } catch (error) {
        errorBanner(page, describe(error));
      }
    });
    const backend = api.function ? functionKey(api.function) : ['register', 'transport', 'cleanup'].filter((key) => api[key]).map((key) => `${key}: ${functionKey(api[key])}`).join(', ');
    return h(
      'tr',
      {},
      h('td', {}, api.name),
      h('td', {}, h('span', { class: 'badge' }, api.method ?? '')),
      h('td', { class: 'mono' }, api.path ?? ''),
      h('td', { class: 'mono' }, backend),
      h('td', {}, api.description ?? ''),
      h(
        'td',
        { class: 'actions-cell' },
        h('a', { class: 'button small', href: `${apiPath}/edit`, 'aria-label': `Edit API ${api.name}` }, 'Edit'),
        h('a', { class: 'button small', href: `${apiPath}/test`, 'aria-label': `Test API ${api.name}` }, 'Test'),
        remove,
      ),
    );
  });

  const stageRows = stages.map((stage) => {
    const serving = service.serving?.[stage];
    const description = h('input', { autocomplete: 'off', 'aria-label': `Release description for ${stage}`, placeholder: 'What changed (optional)', dataset: { publishDescription: stage } });
    const publish = h('button', { type: 'submit', class: 'primary small', dataset: { publish: stage } }, `Publish to ${stage}`);
    const form = h('form', { class: 'publish-form', novalidate: true }, description, publish);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      await busy(publish, async () => {
        try {
          const release = await call('POST', `${base}/releases`, withoutBlanks({ stage, description: description.value.trim() }));
          toast(`Published release #${release.release_id} to ${stage}.`);
          updateGatewayLine();
          await refresh(`[data-publish="${stage}"]`);
        } catch (error) {
          errorBanner(page, describe(error));
        }
      });
    });
    let offline = null;
    if (serving) {
      offline = h('button', { type: 'button', class: 'small', 'aria-label': `Take ${stage} offline` }, 'Take offline');
      offline.addEventListener('click', async () => {
        if (!(await confirmAction('Take offline', `Stop serving service ${service.name} on ${stage}?`, 'Take offline'))) return;
        try {
          await call('DELETE', `${base}/stages/${segment(stage)}`);
          toast(`${stage} no longer serves ${service.name}.`);
          updateGatewayLine();
          await refresh(`[data-publish="${stage}"]`);
        } catch (error) {
          errorBanner(page, describe(error));
        }
      });
    }
    return h(
      'tr',
      { dataset: { stage } },
      h('th', { scope: 'row' }, stage),
      h('td', { class: 'serving' }, serving ? `release #${serving.release_id} since ${formatTime(serving.since)}` : h('span', { class: 'muted' }, 'not published')),
      h('td', {}, form),
      h('td', { class: 'actions-cell' }, offline),
    );
  });

  const releaseRows = releases.releases.map((release) => {
    const servedThere = service.serving?.[release.stage]?.release_id === release.release_id;
    let action = null;
    if (servedThere) {
      action = h('span', { class: 'muted' }, `serving ${release.stage}`);
    } else if (stages.includes(release.stage)) {
      action = h('button', { type: 'button', class: 'small', dataset: { rollback: String(release.release_id) } }, `Roll back ${release.stage} to #${release.release_id}`);
      action.addEventListener('click', async () => {
        const current = service.serving?.[release.stage];
        const question = `${release.stage} ${current ? `serves release #${current.release_id}` : 'serves nothing'}; serve release #${release.release_id} (${release.description || 'no description'}) instead?`;
        if (!(await confirmAction('Roll back', question, `Roll back to #${release.release_id}`))) return;
        try {
          await call('POST', `${base}/stages/${segment(release.stage)}/rollback`, { release_id: release.release_id });
          toast(`${release.stage} serves release #${release.release_id} again.`);
          updateGatewayLine();
          await refresh(`[data-publish="${release.stage}"]`);
        } catch (error) {
          errorBanner(page, describe(error));
        }
      });
    }
    return h(
      'tr',
      { dataset: { release: String(release.release_id) } },
      h('td', {}, `#${release.release_id}`),
      h('td', {}, release.stage),
      h('td', {}, formatTime(release.created_at)),
      h('td', {}, release.description ?? ''),
      h('td', {}, String(release.api_count)),
      h('td', {}, (release.serving_stages ?? []).join(', ')),
      h('td', { class: 'actions-cell' }, action),
    );
  });

  const downloads = [];
  for (const stage of Object.keys(service.serving ?? {})) {
    downloads.push(h('a', { class: 'button', href: `#/services/${segment(id)}/stages/${segment(stage)}/docs` }, `View documentation (${stage})`));
    downloads.push(downloadButton(`Download documentation (${stage})`, `${base}/stages/${segment(stage)}/docs?download=1`, `${id}-${stage}-docs.html`, page));
  }
  downloads.push(downloadButton('OpenAPI (JSON)', `${base}/openapi?format=json`, `${id}.openapi.json`, page));
  downloads.push(downloadButton('OpenAPI (YAML)', `${base}/openapi?format=yaml`, `${id}.openapi.yaml`, page));

  page.append(
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('span', { 'aria-current': 'page' }, service.name)),
    h(
      'div',
      { class: 'page-head' },
      h('div', { class: 'section-head' }, h('h1', { tabindex: -1 }, service.name), h('a', { class: 'button', href: `#/services/${segment(id)}/settings` }, 'Service settings')),
      h('p', { class: 'muted' }, h('span', { class: 'mono' }, service.id), service.description ? ` · ${service.description}` : '', service.hosts?.length ? ` · hosts ${service.hosts.join(', ')}` : ''),
    ),
    // `append` would write a missing report as the text "null".
    importReport(id) ?? '',
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'apis-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'apis-title', tabindex: -1 }, `APIs (${apis.total_count})`), h('a', { class: 'button primary', href: `#/services/${segment(id)}/apis/new` }, 'Create API')),
      h('p', { class: 'muted' }, 'These are the draft. Publish to a stage to serve them.'),
      table('APIs', ['Name', 'Method', 'Path', 'Backend', 'Description', 'Actions'], apiRows, 'No APIs yet: create one.'),
      h('details', { class: 'nested import-details' }, h('summary', {}, 'Import APIs from OpenAPI'), openApiImportCard(id, functions.functions)),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'stages-title' },
      h('h2', { id: 'stages-title' }, 'Stages'),
      h('p', { class: 'muted' }, `Each stage serves one release at /<stage>/<path>.`),
      table('Stages', ['Stage', 'Serving', 'Publish the draft', ''], stageRows, ''),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'releases-title' },
      h('h2', { id: 'releases-title' }, 'Release history'),
      table('Releases, newest first', ['Release', 'Stage', 'Published', 'Description', 'APIs', 'Serving now', 'Actions'], releaseRows, 'Nothing published yet.'),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'docs-title' },
      h('h2', { id: 'docs-title' }, 'Documentation and export'),
      Object.keys(service.serving ?? {}).length ? null : h('p', { class: 'muted' }, 'The documentation describes what a stage serves: publish to see it.'),
      h('div', { class: 'actions' }, downloads),
    ),
  );
  return page;
}

function downloadButton(label, path, filename, page) {
  const button = h('button', { type: 'button' }, label);
  button.addEventListener('click', () =>
    busy(button, async () => {
      try {
        await download(path, filename);
      } catch (error) {
        errorBanner(page, describe(error));
      }
    }),
  );
  return button;
}

// ---------------------------------------------------------------------------------------------
// Generated documentation

/**
 * The docs page the admin API generates for what `stage` serves. The endpoint needs the token,
 * so the page cannot simply link to it: its HTML is fetched with the token and shown in an
 * <iframe sandbox srcdoc>. The empty sandbox gives the document an opaque origin and no scripts,
 * so it can reach neither the console nor its token; console.rs's policy admits its stylesheet.
 */
async function docsView(id, stage) {
  const base = `/v1/services/${segment(id)}`;
  const service = await call('GET', base);
  const response = await send('GET', `${base}/stages/${segment(stage)}/docs`);
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const html = await response.text();
  const page = h('section', { class: 'page' });
  const frame = h('iframe', { class: 'docs-frame', sandbox: true, title: `API documentation of ${service.name} on ${stage}` });
  frame.srcdoc = html;
  page.append(
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${segment(id)}` }, service.name), ' / ', h('span', { 'aria-current': 'page' }, `Documentation (${stage})`)),
    h(
      'div',
      { class: 'page-head' },
      h('div', { class: 'section-head' }, h('h1', { tabindex: -1 }, `Documentation of ${service.name} (${stage})`), downloadButton('Download as HTML', `${base}/stages/${segment(stage)}/docs?download=1`, `${id}-${stage}-docs.html`, page)),
      h('p', { class: 'muted' }, `What ${stage} serves now, as its callers see it.`),
    ),
    frame,
  );
  return page;
}

// ---------------------------------------------------------------------------------------------
// Test panel

/** The API's path with each `{param}` replaced by its sample or default (else `1`). */
function samplePath(api) {
  const path = String(api.path ?? '/').replace(/^(=|\^~)/, '');
  return path.replace(/\{([^{}]*)\}/g, (_, name) => {
    const param = (api.param ?? []).find((candidate) => candidate.position === 'path' && candidate.name === name);
    return encodeURIComponent(param?.sample ?? param?.default ?? '1');
  });
}

/** `Name: value` lines as an object; throws on a line without a colon. */
function parseHeaderLines(text) {
  const headers = {};
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`line ${index + 1} is not "Name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

async function testView(id, name) {
  const base = `/v1/services/${segment(id)}`;
  const [service, api] = await Promise.all([call('GET', base), call('GET', `${base}/apis/${segment(name)}`)]);
  const serving = Object.keys(service.serving ?? {});
  const stages = serving.length ? serving : service.stages?.length ? service.stages : STAGES;
  const page = h('section', { class: 'page' });

  const stage = h('select', {}, stages.map((value) => h('option', { value }, value)));
  const methods = api.method && api.method !== 'ANY' ? [api.method] : ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'];
  const method = h('select', {}, [...new Set([...methods, 'GET', 'POST', 'PUT', 'DELETE', 'HEAD'])].map((value) => h('option', { value }, value)));
  const path = h('input', { value: samplePath(api), autocomplete: 'off', class: 'mono' });
  const query = h('input', { autocomplete: 'off', class: 'mono', placeholder: 'name=value&other=value' });
  const headers = h('textarea', { rows: 3, class: 'mono', placeholder: 'X-Demo: 1' });
  const body = h('textarea', { rows: 4, class: 'mono' });
  const target = h('p', { class: 'mono muted', 'aria-live': 'off' });
  const showTarget = () => {
    target.textContent = `${method.value} /${stage.value}${path.value}${query.value ? `?${query.value.replace(/^\?/, '')}` : ''}`;
  };
  for (const control of [stage, method, path, query]) control.addEventListener('input', showTarget);
  showTarget();

  const result = h('section', { class: 'result', 'aria-live': 'polite', 'aria-labelledby': 'result-title' });
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h(
      'div',
      { class: 'row' },
      field('Stage', stage, { fieldName: 'stage', hint: serving.length ? '' : 'Not published yet: publish the service first.' }),
      field('Method', method, { fieldName: 'method' }),
      field('Path', path, { fieldName: 'path', hint: 'After the stage; the path parameters are filled with their samples.' }),
    ),
    field('Query string', query, { fieldName: 'query' }),
    field('Headers', headers, { fieldName: 'headers', hint: 'One "Name: value" per line.' }),
    field('Body', body, { fieldName: 'body' }),
    target,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Send request')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    let headerObject;
    try {
      headerObject = parseHeaderLines(headers.value);
    } catch (error) {
      showFieldError(form, 'headers', error.message);
      headers.focus();
      return;
    }
    const request = withoutBlanks({
      method: method.value,
      path: `/${stage.value}${path.value.startsWith('/') ? '' : '/'}${path.value}${query.value ? `?${query.value.replace(/^\?/, '')}` : ''}`,
      headers: headerObject,
      body: body.value,
      host: service.hosts?.[0],
    });
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        showResult(result, await call('POST', '/v1/test-request', request));
      } catch (error) {
        showError(form, error);
      }
    });
  });

  page.append(
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${segment(id)}` }, service.name), ' / ', h('span', { 'aria-current': 'page' }, `Test ${api.name}`)),
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, `Test ${api.name}`), h('p', { class: 'muted' }, `${api.method} ${api.path} → ${api.function ? functionKey(api.function) : 'WebSocket functions'}. The request goes through the gateway, as a client's would.`)),
    form,
    result,
  );
  return page;
}

/** The event the function received, when the answer is one (the `echo` function's is). */
function eventIn(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && 'requestContext' in value && 'httpMethod' in value ? value : null;
  } catch {
    return null;
  }
}

function showResult(container, answer) {
  const event = eventIn(answer.body);
  const headerRows = Object.entries(answer.headers ?? {}).map(([name, value]) => h('tr', {}, h('th', { scope: 'row', class: 'mono' }, name), h('td', { class: 'mono' }, value)));
  container.replaceChildren(
    h('h2', { id: 'result-title' }, 'Response'),
    h('p', {}, 'Status ', h('strong', { class: answer.status < 400 ? 'status ok' : 'status bad', dataset: { testid: 'status' } }, String(answer.status))),
    h('details', {}, h('summary', {}, `Headers (${headerRows.length})`), table('Response headers', ['Name', 'Value'], headerRows, 'No headers.')),
    h('h3', {}, 'Body'),
    h('pre', { class: 'code', dataset: { testid: 'body' }, tabindex: 0 }, answer.body || '(empty)'),
    ...(event ? [h('h3', {}, 'Event the function received'), h('pre', { class: 'code', dataset: { testid: 'event' }, tabindex: 0 }, JSON.stringify(event, null, 2))] : []),
  );
}

// ---------------------------------------------------------------------------------------------
// Functions

async function functionsView() {
  const data = await call('GET', '/v1/functions?limit=100');
  const page = h('section', { class: 'page' });
  const rows = data.functions.map((fn) => {
    const key = functionKey(fn);
    const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete function ${key}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction('Delete function', `Delete function ${key}? Its processes stop.`, 'Delete function'))) return;
      const qualifier = fn.qualifier ? `/${segment(fn.qualifier)}` : '';
      try {
        await call('DELETE', `/v1/functions/${segment(fn.namespace || 'default')}/${segment(fn.name)}${qualifier}`);
        toast(`Function ${key} deleted.`);
        await refresh();
      } catch (error) {
        errorBanner(page, describe(error));
      }
    });
    return h(
      'tr',
      {},
      h('td', { class: 'mono' }, key),
      h('td', {}, fn.runtime ?? ''),
      h('td', { class: 'mono' }, fn.runtime === 'remote' ? (fn.invoke_url ?? '') : (fn.code ?? '')),
      h('td', {}, fn.runtime === 'remote' ? '' : String(fn.instances ?? 1)),
      h('td', { class: 'actions-cell' }, remove),
    );
  });
  const creator = functionCreator(async (created) => {
    toast(`Function ${functionKey(created)} created.`);
    await refresh();
  });
  page.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Functions'), h('p', { class: 'muted' }, 'The SCF functions APIs can call. Changes apply at once: local functions start their processes.')),
    h('section', { class: 'card', 'aria-labelledby': 'new-function-title' }, h('h2', { id: 'new-function-title' }, 'New function'), creator),
    h('h2', {}, `All functions (${data.total_count})`),
    table('Functions', ['Function', 'Runtime', 'Code or URL', 'Instances', 'Actions'], rows, 'No functions yet.'),
  );
  return page;
}

window.addEventListener('hashchange', () => route());
updateGatewayLine();
route();
