// A service's settings (Tencent: 服务信息 and 环境管理 > 环境变量): name, description, custom
// domains (hosts), the stages it may be published to, and each stage's variables, which the
// function receives as `stageVariables`. Settings belong to the draft, like its APIs: a stage
// sees a change once the service is published to it again.

import { call, segment } from './api.js';
import { checkStageVariables, parseHosts, stageVariablesPayload } from './checks.js';
import { busy, clearFieldErrors, errorBanner, field, h, showError, showFieldError, toast, uid } from './ui.js';

const STAGES = ['release', 'test', 'prepub'];

/** The settings page of service `id`. */
export async function serviceSettingsView(id) {
  const base = `/v1/services/${segment(id)}`;
  const service = await call('GET', base);
  const allowed = service.stages?.length ? service.stages : STAGES;
  // Rows as edited, per stage; each editor re-reads its inputs into these before re-rendering.
  const variables = Object.fromEntries(STAGES.map((stage) => [stage, Object.entries(service.stage_variables?.[stage] ?? {}).map(([name, value]) => ({ name, value }))]));

  const name = h('input', { value: service.name ?? '', autocomplete: 'off' });
  const description = h('textarea', { rows: 2, value: service.description ?? '' });
  const hosts = h('textarea', { rows: 2, class: 'mono', value: (service.hosts ?? []).join('\n'), placeholder: 'api.example.com', spellcheck: 'false' });

  const stagesId = uid('stages');
  const stageBoxes = STAGES.map((stage) => {
    const box = h('input', { type: 'checkbox', id: uid('stage'), value: stage, checked: allowed.includes(stage) });
    return { stage, box, label: h('label', { for: box.id, class: 'inline' }, box, ` ${stage}`) };
  });
  const stagesFieldset = h(
    'fieldset',
    { class: 'choice', id: stagesId, tabindex: -1, 'aria-describedby': `${stagesId}-error`, dataset: { field: 'stages' } },
    h('legend', {}, 'Stages it may be published to'),
    stageBoxes.map(({ label }) => label),
  );

  const editors = h('div', { class: 'stage-variables' });
  // In place: each stage's editor holds its array.
  const readVariables = () => {
    for (const stage of STAGES) {
      const rows = [...editors.querySelectorAll(`tr[data-variable-stage="${stage}"]`)].map((row) => ({
        name: row.querySelector('[data-part="name"]').value,
        value: row.querySelector('[data-part="value"]').value,
      }));
      variables[stage].splice(0, variables[stage].length, ...rows);
    }
  };
  const renderEditors = (focusField) => {
    editors.replaceChildren(...STAGES.map((stage) => variablesEditor(stage, variables[stage], allowed.includes(stage), readVariables, renderEditors)));
    if (focusField) editors.querySelector(`[data-field="${CSS.escape(focusField)}"]`)?.focus();
  };
  renderEditors();

  const form = h(
    'form',
    { class: 'card', novalidate: true, 'aria-labelledby': 'settings-title' },
    h('h2', { id: 'settings-title' }, 'Basic information'),
    h('div', { class: 'row' }, field('Service name', name, { fieldName: 'name', required: true }), field('Description', description, { fieldName: 'description' })),
    field('Custom domains (hosts)', hosts, { fieldName: 'hosts', hint: 'One host name per line (no port). Empty: the service answers for any Host.' }),
    stagesFieldset,
    h('p', { class: 'field-error', id: `${stagesId}-error`, hidden: true }),
    h('h2', {}, 'Stage variables'),
    h('p', { class: 'muted' }, 'Sent to the function as stageVariables on requests to that stage, once the service is published there again.'),
    editors,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save settings'), h('a', { class: 'button subtle', href: `#/services/${segment(id)}` }, 'Cancel')),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    readVariables();
    clearFieldErrors(form);
    form.querySelector(':scope > .banner.error')?.remove();
    const problems = checkStageVariables(variables);
    if (problems.length) {
      for (const problem of problems) showFieldError(form, problem.field, problem.message);
      errorBanner(form, problems.length === 1 ? 'Fix the field marked below.' : `Fix the ${problems.length} fields marked below.`);
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    const hostList = parseHosts(hosts.value);
    const body = {
      name: name.value.trim(),
      stages: stageBoxes.filter(({ box }) => box.checked).map(({ stage }) => stage),
      stage_variables: stageVariablesPayload(variables),
    };
    if (description.value.trim()) body.description = description.value.trim();
    if (hostList.length) body.hosts = hostList;
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        const saved = await call('PUT', base, body, { ifMatch: service.version });
        toast(`Settings of ${saved.name} saved. Publish to a stage to apply them there.`);
        location.hash = `#/services/${segment(id)}`;
      } catch (error) {
        showError(form, error);
      }
    });
  });

  return h(
    'section',
    { class: 'page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${segment(id)}` }, service.name), ' / ', h('span', { 'aria-current': 'page' }, 'Settings')),
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, `Settings of ${service.name}`), h('p', { class: 'muted mono' }, service.id)),
    form,
  );
}

/**
 * One stage's variables: a name/value row each, named by place (`stage_variables.test #2.name`)
 * for the client checks; the fieldset itself carries `stage_variables.test`, the field the admin
 * API names when it refuses the stage's table.
 */
function variablesEditor(stage, rows, allowed, readVariables, renderEditors) {
  const id = uid('vars');
  const add = h('button', { type: 'button', dataset: { addVariable: stage } }, `Add variable to ${stage}`);
  add.addEventListener('click', () => {
    readVariables();
    rows.push({ name: '', value: '' });
    renderEditors(`stage_variables.${stage} #${rows.length}.name`);
  });
  const cell = (label, control, fieldName, part) => {
    control.id = uid('v');
    control.dataset.field = fieldName;
    control.dataset.part = part;
    control.setAttribute('aria-label', label);
    control.setAttribute('aria-describedby', `${control.id}-error`);
    return h('td', { dataset: { label: part === 'name' ? 'Name' : 'Value' } }, control, h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true }));
  };
  const body = rows.map((row, index) => {
    const number = index + 1;
    const at = (part) => `stage_variables.${stage} #${number}.${part}`;
    const remove = h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${stage} variable ${number}` }, 'Remove');
    remove.addEventListener('click', () => {
      readVariables();
      rows.splice(index, 1);
      renderEditors();
      document.querySelector(`[data-add-variable="${stage}"]`)?.focus();
    });
    return h(
      'tr',
      { dataset: { variableStage: stage } },
      cell(`${stage} variable ${number} name`, h('input', { value: row.name, autocomplete: 'off', class: 'mono' }), at('name'), 'name'),
      cell(`${stage} variable ${number} value`, h('input', { value: row.value, autocomplete: 'off', class: 'mono' }), at('value'), 'value'),
      h('td', {}, remove),
    );
  });
  return h(
    'fieldset',
    { class: 'list-editor', id, tabindex: -1, 'aria-describedby': `${id}-error`, dataset: { field: `stage_variables.${stage}` } },
    h('legend', {}, stage, allowed ? '' : h('span', { class: 'muted' }, ' (not a stage of this service)')),
    body.length
      ? h('table', { class: 'stack' }, h('thead', {}, h('tr', {}, ['Name', 'Value', ''].map((heading) => h('th', { scope: 'col' }, heading)))), h('tbody', {}, body))
      : h('p', { class: 'muted' }, 'No variables.'),
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
    add,
  );
}
