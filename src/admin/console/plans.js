// Usage plans (Tencent: 使用计划) and key pairs (Tencent: 密钥). Both are live resources: the
// admin API applies a change to the data plane at once, without a publish. A key pair's
// SecretKey is shown once, in the answer that created it; the admin API never returns it again,
// so the console keeps it in memory for that one render only.

import { call, segment } from './api.js';
import { parseLimit } from './checks.js';
import { busy, clearFieldErrors, confirmAction, describe, errorBanner, field, formatTime, h, refresh, showError, showFieldError, table, toast, uid } from './ui.js';

const STAGES = ['release', 'test', 'prepub'];

/** The admin API names a plan's fields `environments.stage`, `secret_ids`...; the form has one control per list. */
const planField = (name) => String(name).split('.')[0];

const serviceLabel = (services, id) => services.find((service) => service.id === id)?.name ?? id;

// ---------------------------------------------------------------------------------------------
// Usage plans

export async function usagePlansView() {
  const [plans, services] = await Promise.all([call('GET', '/v1/usage-plans?limit=100'), call('GET', '/v1/services?limit=100')]);
  const page = h('section', { class: 'page' });
  const rows = plans.usage_plans.map((plan) => {
    const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete usage plan ${plan.name}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction('Delete usage plan', `Delete usage plan ${plan.name}? Its limits stop applying at once, and key-pair APIs of its stages stop accepting its keys.`, 'Delete usage plan'))) return;
      try {
        await call('DELETE', `/v1/usage-plans/${segment(plan.name)}`, undefined, { ifMatch: plan.version });
        toast(`Usage plan ${plan.name} deleted.`);
        await refresh();
      } catch (error) {
        errorBanner(page, describe(error));
      }
    });
    return h(
      'tr',
      { dataset: { plan: plan.name } },
      h('td', {}, plan.name),
      h('td', {}, plan.max_requests_per_second ? String(plan.max_requests_per_second) : h('span', { class: 'muted' }, 'unlimited')),
      h('td', {}, plan.quota_per_day ? String(plan.quota_per_day) : h('span', { class: 'muted' }, 'unlimited')),
      h('td', {}, (plan.environments ?? []).map((environment) => h('div', {}, `${serviceLabel(services.services, environment.service)} / ${environment.stage}`))),
      h('td', { class: 'mono' }, (plan.secret_ids ?? []).length ? plan.secret_ids.map((id) => h('div', {}, id)) : h('span', { class: 'muted' }, 'none: limits every caller')),
      h(
        'td',
        { class: 'actions-cell' },
        h('a', { class: 'button small', href: `#/usage-plans/${segment(plan.name)}/edit`, 'aria-label': `Edit usage plan ${plan.name}` }, 'Edit'),
        remove,
      ),
    );
  });
  page.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Usage plans'),
      h('p', { class: 'muted' }, 'A usage plan limits the requests of its key pairs (or, without key pairs, of every caller) on the service stages it is bound to. Changes apply at once.'),
    ),
    h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/usage-plans/new' }, 'Create usage plan')),
    h('h2', {}, `All usage plans (${plans.total_count})`),
    table('Usage plans', ['Name', 'Requests per second', 'Quota per day', 'Bound to', 'Key pairs', 'Actions'], rows, 'No usage plans yet.'),
  );
  return page;
}

/** Create (`name` null) or edit a usage plan. */
export async function usagePlanFormView(name) {
  const [services, secrets, existing] = await Promise.all([
    call('GET', '/v1/services?limit=100'),
    call('GET', '/v1/secrets?limit=100'),
    name === null ? null : call('GET', `/v1/usage-plans/${segment(name)}`),
  ]);
  const plan = existing ?? { environments: [], secret_ids: [] };
  const bound = (serviceId, stage) => (plan.environments ?? []).some((environment) => environment.service === serviceId && environment.stage === stage);

  const planName = h('input', { value: plan.name ?? '', autocomplete: 'off', disabled: name !== null });
  const rate = h('input', { type: 'text', inputmode: 'numeric', value: plan.max_requests_per_second ?? '', autocomplete: 'off' });
  const quota = h('input', { type: 'text', inputmode: 'numeric', value: plan.quota_per_day ?? '', autocomplete: 'off' });

  const environmentBoxes = [];
  const serviceGroups = services.services.map((service) => {
    const stages = service.stages?.length ? service.stages : STAGES;
    return h(
      'div',
      { class: 'check-group' },
      h('span', { class: 'check-group-title' }, `${service.name} `, h('span', { class: 'mono muted' }, service.id)),
      stages.map((stage) => {
        const box = h('input', { type: 'checkbox', id: uid('env'), checked: bound(service.id, stage) });
        environmentBoxes.push({ box, service: service.id, stage });
        const serving = service.serving?.[stage];
        return h('label', { for: box.id, class: 'inline' }, box, ` ${service.name} / ${stage}`, h('span', { class: 'muted' }, serving ? ` (serving release #${serving.release_id})` : ' (not published: applies once it is)'));
      }),
    );
  });
  const environmentsFieldset = checkList('environments', 'Bound to (service stages)', serviceGroups.length ? serviceGroups : h('p', { class: 'muted' }, 'No services yet.'));

  const secretBoxes = secrets.secrets.map((secret) => {
    const box = h('input', { type: 'checkbox', id: uid('secret'), checked: (plan.secret_ids ?? []).includes(secret.id) });
    return { box, id: secret.id, label: h('label', { for: box.id, class: 'inline mono' }, box, ` ${secret.id}`) };
  });
  // A plan may name key pairs that are gone from the list (it could not be saved so, but keep them visible).
  const secretsFieldset = checkList(
    'secret_ids',
    'Key pairs (SecretIds)',
    secretBoxes.length ? secretBoxes.map(({ label }) => h('div', {}, label)) : h('p', { class: 'muted' }, 'No key pairs yet: ', h('a', { href: '#/secrets' }, 'create one'), '. Without key pairs the plan limits every caller.'),
  );

  const form = h(
    'form',
    { class: 'card', novalidate: true, 'aria-labelledby': 'plan-form-title' },
    h('h2', { id: 'plan-form-title' }, name === null ? 'New usage plan' : 'Usage plan'),
    field('Usage plan name', planName, { fieldName: 'name', required: true, hint: name === null ? 'Unique; cannot change later.' : 'A plan’s name cannot change.' }),
    h(
      'div',
      { class: 'row' },
      field('Max requests per second', rate, { fieldName: 'max_requests_per_second', hint: 'Per key pair. Empty: no limit.' }),
      field('Quota per day', quota, { fieldName: 'quota_per_day', hint: 'Requests per key pair per UTC day. Empty: no limit.' }),
    ),
    environmentsFieldset,
    secretsFieldset,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, name === null ? 'Create usage plan' : 'Save usage plan'), h('a', { class: 'button subtle', href: '#/usage-plans' }, 'Cancel')),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    form.querySelector(':scope > .banner.error')?.remove();
    const limits = { max_requests_per_second: parseLimit(rate.value), quota_per_day: parseLimit(quota.value) };
    const badLimits = Object.entries(limits).filter(([, value]) => Number.isNaN(value));
    if (badLimits.length) {
      for (const [fieldName] of badLimits) showFieldError(form, fieldName, 'a whole number of requests; leave it empty for no limit');
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    const body = {
      name: planName.value.trim() || undefined,
      ...limits,
      environments: environmentBoxes.filter(({ box }) => box.checked).map(({ service, stage }) => ({ service, stage })),
      secret_ids: secretBoxes.filter(({ box }) => box.checked).map(({ id }) => id),
    };
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        const saved = name === null ? await call('POST', '/v1/usage-plans', body) : await call('PUT', `/v1/usage-plans/${segment(name)}`, body, { ifMatch: plan.version });
        toast(`Usage plan ${saved.name} ${name === null ? 'created' : 'saved'}; it applies now.`);
        location.hash = '#/usage-plans';
      } catch (error) {
        showError(form, error, planField);
      }
    });
  });

  const title = name === null ? 'Create usage plan' : `Edit usage plan ${name}`;
  return h(
    'section',
    { class: 'page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/usage-plans' }, 'Usage plans'), ' / ', h('span', { 'aria-current': 'page' }, title)),
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, title)),
    form,
  );
}

/** A fieldset of checkboxes that an admin API error can name (`data-field`) and focus. */
function checkList(fieldName, legend, content) {
  const id = uid('list');
  return h(
    'fieldset',
    { class: 'check-list', id, tabindex: -1, 'aria-describedby': `${id}-error`, dataset: { field: fieldName } },
    h('legend', {}, legend),
    content,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
  );
}

// ---------------------------------------------------------------------------------------------
// Key pairs

// The key pair just created, with its SecretKey: shown by the next render of the page, then
// forgotten, so a reload or a later visit cannot show it.
let justCreated = null;

// The SecretKeys created in this page's life, for the test panel to sign with: in memory only,
// gone with a reload (the same rule as the notice that shows them once).
const createdKeys = new Map();

/** The SecretKey of `id` if this page created it, else undefined. */
export function recentSecretKey(id) {
  return createdKeys.get(id);
}

export async function secretsView() {
  const [secrets, plans] = await Promise.all([call('GET', '/v1/secrets?limit=100'), call('GET', '/v1/usage-plans?limit=100')]);
  const created = justCreated;
  justCreated = null;
  const page = h('section', { class: 'page' });

  const secretId = h('input', { autocomplete: 'off', class: 'mono', placeholder: 'generated: AKID + 32 characters' });
  const secretKey = h('input', { autocomplete: 'off', class: 'mono', placeholder: 'generated: 32 characters' });
  const form = h(
    'form',
    { class: 'card', novalidate: true, 'aria-labelledby': 'new-secret-title' },
    h('h2', { id: 'new-secret-title' }, 'New key pair'),
    h('p', { class: 'muted' }, 'Leave both empty to have them generated (recommended).'),
    h('div', { class: 'row' }, field('SecretId', secretId, { fieldName: 'id' }), field('SecretKey', secretKey, { fieldName: 'key' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create key pair')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    form.querySelector(':scope > .banner.error')?.remove();
    const body = {};
    if (secretId.value.trim()) body.id = secretId.value.trim();
    if (secretKey.value !== '') body.key = secretKey.value;
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        justCreated = await call('POST', '/v1/secrets', body);
        if (justCreated.key) createdKeys.set(justCreated.id, justCreated.key);
        await refresh('#created-secret-title');
      } catch (error) {
        // A taken SecretId is a conflict, not a validation error: it has no field, but it is the id's fault.
        if (error.code === 'ResourceInUse.AlreadyExists' && showFieldError(form, 'id', error.message)) secretId.focus();
        else showError(form, error);
      }
    });
  });

  const plansHolding = (id) => plans.usage_plans.filter((plan) => (plan.secret_ids ?? []).includes(id)).map((plan) => plan.name);
  const rows = secrets.secrets.map((secret) => {
    const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete key pair ${secret.id}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction('Delete key pair', `Delete key pair ${secret.id}? Callers signing with it are refused at once.`, 'Delete key pair'))) return;
      try {
        await call('DELETE', `/v1/secrets/${segment(secret.id)}`, undefined, { ifMatch: secret.version });
        toast(`Key pair ${secret.id} deleted.`);
        await refresh();
      } catch (error) {
        errorBanner(page, describe(error));
      }
    });
    const holding = plansHolding(secret.id);
    return h(
      'tr',
      { dataset: { secret: secret.id } },
      h('td', { class: 'mono' }, secret.id),
      h('td', {}, secret.key_env ? `from environment variable ${secret.key_env}` : h('span', { class: 'muted' }, 'stored; never shown again')),
      h('td', {}, formatTime(secret.created_at)),
      h('td', {}, holding.length ? holding.join(', ') : h('span', { class: 'muted' }, 'none')),
      h('td', { class: 'actions-cell' }, remove),
    );
  });

  page.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Key pairs'), h('p', { class: 'muted' }, 'SecretId and SecretKey pairs for key-pair authentication. A key pair works on the stages of the usage plans that hold it.')),
    created ? createdNotice(created) : '',
    form,
    h('h2', {}, `All key pairs (${secrets.total_count})`),
    table('Key pairs', ['SecretId', 'SecretKey', 'Created', 'Usage plans', 'Actions'], rows, 'No key pairs yet.'),
  );
  return page;
}

/** The one place the SecretKey of a new key pair is ever shown. */
function createdNotice(secret) {
  const idField = h('input', { readonly: true, class: 'mono', value: secret.id, dataset: { testid: 'created-secret-id' } });
  const keyField = h('input', { readonly: true, class: 'mono', value: secret.key ?? '', dataset: { testid: 'created-secret-key' } });
  const copy = h('button', { type: 'button' }, 'Copy SecretKey');
  copy.addEventListener('click', async () => {
    keyField.select();
    try {
      // Needs a secure context (loopback counts); elsewhere the key is selected for Ctrl+C.
      await navigator.clipboard.writeText(keyField.value);
      toast('SecretKey copied.');
    } catch {
      toast('The browser refused to copy: the SecretKey is selected, press Ctrl+C.');
    }
  });
  const done = h('button', { type: 'button' }, 'I have copied it');
  const notice = h(
    'section',
    { class: 'card notice', 'aria-labelledby': 'created-secret-title' },
    h('h2', { id: 'created-secret-title', tabindex: -1 }, `Key pair ${secret.id} created`),
    h('p', { class: 'notice-text' }, h('strong', {}, 'Copy the SecretKey now: it is shown only this once.'), ' Neither the console nor the admin API can show it again; if it is lost, create a new key pair.'),
    h('div', { class: 'row' }, field('SecretId', idField), field('SecretKey', keyField)),
    h('div', { class: 'actions' }, copy, done),
  );
  done.addEventListener('click', () => {
    notice.remove();
    document.querySelector('main h1')?.focus();
  });
  return notice;
}
