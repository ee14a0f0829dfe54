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
import { testView } from './test-panel.js';
import { diffLines, draftDiff, isUnchanged } from './diff.js';

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
  const [service, apis, releases, functions, plans] = await Promise.all([
    call('GET', base),
    call('GET', `${base}/apis?limit=100`),
    call('GET', `${base}/releases?limit=100`),
    call('GET', '/v1/functions?limit=100'),
    call('GET', '/v1/usage-plans?limit=100'),
  ]);
  const stages = service.stages?.length ? service.stages : STAGES;
  // What each stage serves, to show what publishing the draft there would change.
  const servedIds = [...new Set(Object.values(service.serving ?? {}).map((serving) => serving.release_id))];
  const snapshots = new Map(await Promise.all(servedIds.map(async (releaseId) => [releaseId, (await call('GET', `${base}/releases/${releaseId}`)).service])));
  const keyPairApis = apis.apis.filter((api) => api.auth === 'key_pair').map((api) => api.name);
  const keyPlanBound = (stage) => plans.usage_plans.some((plan) => (plan.secret_ids ?? []).length > 0 && (plan.environments ?? []).some((env) => env.service === id && env.stage === stage));
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
    const diff = draftDiff(service, apis.apis, serving ? snapshots.get(serving.release_id) : null, stage);
    const lines = diffLines(diff);
    const changes = isUnchanged(diff)
      ? h('p', { class: 'hint diff' }, serving ? `The draft is what ${stage} serves.` : 'Nothing published here yet.')
      : h('details', { class: 'diff' }, h('summary', {}, `Draft differs from ${stage}: ${lines.length} ${lines.length === 1 ? 'change' : 'changes'}`), h('ul', {}, lines.map((line) => h('li', {}, line))));
    // A key-pair API answers 403 on a stage no usage plan with keys is bound to (Tencent's
    // "Found no validate usage plan."): say so before publishing there.
    const unbound =
      keyPairApis.length && !keyPlanBound(stage)
        ? h('p', { class: 'notice-inline', role: 'note' }, `${keyPairApis.join(', ')} ${keyPairApis.length === 1 ? 'uses' : 'use'} key-pair authentication, and no usage plan with key pairs is bound to ${stage}: every call there gets 403. `, h('a', { href: '#/usage-plans' }, 'Bind a usage plan'))
        : null;
    const form = h('form', { class: 'publish-form', novalidate: true }, description, publish);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      await busy(publish, async () => {
        try {
          const release = await call('POST', `${base}/releases`, withoutBlanks({ stage, description: description.value.trim() }));
          toast(`Published release #${release.release_id} to ${stage}.${unbound ? ` Key-pair APIs there answer 403 until a usage plan with key pairs is bound to ${stage}.` : ''}`);
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
      h('td', { class: 'serving', dataset: { label: 'Serving' } }, serving ? `release #${serving.release_id} since ${formatTime(serving.since)}` : h('span', { class: 'muted' }, 'not published')),
      h('td', { dataset: { label: 'Publish the draft' } }, form, changes, unbound),
      h('td', { class: 'actions-cell' }, offline),
    );
  });

  const releaseRows = releases.releases.map((release) => {
    const servedThere = service.serving?.[release.stage]?.release_id === release.release_id;
    let action = null;
    if (servedThere) {
      action = h('span', { class: 'muted' }, `serving ${release.stage}`);
    } else if (stages.includes(release.stage)) {
      const current = service.serving?.[release.stage];
      // Only an older release is a rollback; after one, the newer releases are a switch forward.
      const older = current && release.release_id < current.release_id;
      const verb = older ? 'Roll back' : 'Switch';
      action = h('button', { type: 'button', class: 'small', dataset: { rollback: String(release.release_id) } }, `${verb} ${release.stage} to #${release.release_id}`);
      action.addEventListener('click', async () => {
        const question = `${release.stage} ${current ? `serves release #${current.release_id}` : 'serves nothing'}; serve release #${release.release_id} (${release.description || 'no description'}) instead?`;
        if (!(await confirmAction(verb, question, `${verb} to #${release.release_id}`))) return;
        try {
          await call('POST', `${base}/stages/${segment(release.stage)}/rollback`, { release_id: release.release_id });
          toast(`${release.stage} serves release #${release.release_id}.`);
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
      table('Stages', ['Stage', 'Serving', 'Publish the draft', ''], stageRows, '', { stack: true }),
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
