// Step 3's Base64 encoding (Tencent: Base64 编码): off, every request body, or the bodies of
// requests whose Content-Type or Accept header contains one of a rule's values (at most 10 rules,
// any one matching). The function then gets the body base64-encoded with `isBase64Encoded: true`.
// Inputs are named as the admin API names them (`base64`, `base64_rule #2.values`).

import { field, h, uid } from './ui.js';

/** The most rules an API may have (Tencent's limit, checked again by the gateway). */
export const MAX_RULES = 10;

/**
 * The setting and its rules for `api`; `reread()` copies the step's inputs into the API and
 * `rerender(focusField)` draws the step again (adding or removing a rule).
 */
export function base64Editor(api, { reread, rerender }) {
  const mode = api.base64 ?? 'off';
  const choice = h(
    'select',
    {},
    [
      ['off', 'Off (only bodies that are not UTF-8)'],
      ['all', 'Every request body'],
      ['rules', 'When a header matches a rule'],
    ].map(([value, label]) => h('option', { value, selected: value === mode }, label)),
  );
  choice.addEventListener('change', () => {
    reread();
    if (api.base64 === 'rules' && !(api.base64_rule ?? []).length) api.base64_rule = [{ header: 'Content-Type' }];
    rerender('base64');
  });
  const parts = [field('Base64 encoding', choice, { fieldName: 'base64', hint: 'The function receives the body base64-encoded, with isBase64Encoded: true (for images and other binary uploads).' })];
  if (mode !== 'rules') return h('fieldset', { class: 'nested' }, h('legend', {}, 'Base64 encoding'), parts);

  const rules = api.base64_rule ?? [];
  const cell = (label, control, fieldName, heading) => {
    control.dataset.field = fieldName;
    control.setAttribute('aria-label', label);
    control.id = uid('b');
    return h('td', { dataset: { label: heading } }, control, h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true }));
  };
  const rows = rules.map((rule, index) => {
    const number = index + 1;
    const at = (key) => `base64_rule #${number}.${key}`;
    const header = h('select', {}, ['Content-Type', 'Accept'].map((name) => h('option', { value: name, selected: name.toLowerCase() === String(rule.header ?? 'Content-Type').toLowerCase().replace('_', '-') }, name)));
    const values = h('input', { value: (rule.values ?? []).join(', '), autocomplete: 'off', class: 'mono', placeholder: 'image/, application/octet-stream', dataset: { list: 'comma' } });
    const remove = h('button', { type: 'button', class: 'small', 'aria-label': `Remove Base64 rule ${number}` }, 'Remove');
    remove.addEventListener('click', () => {
      reread();
      api.base64_rule.splice(index, 1);
      rerender('base64');
    });
    return h('tr', {}, cell(`Base64 rule ${number} header`, header, at('header'), 'Header'), cell(`Base64 rule ${number} values`, values, at('values'), 'Contains any of (comma-separated)'), h('td', {}, remove));
  });
  const add = h('button', { type: 'button', disabled: rules.length >= MAX_RULES }, 'Add Base64 rule');
  add.addEventListener('click', () => {
    reread();
    (api.base64_rule ??= []).push({ header: 'Content-Type' });
    rerender(`base64_rule #${api.base64_rule.length}.values`);
  });
  return h(
    'fieldset',
    { class: 'nested list-editor' },
    h('legend', {}, 'Base64 encoding'),
    parts,
    rows.length
      ? h('table', { class: 'stack' }, h('thead', {}, h('tr', {}, ['Header', 'Contains any of (comma-separated)', ''].map((heading) => h('th', { scope: 'col' }, heading)))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No rules yet.'),
    h('p', { class: 'hint' }, `A rule matches when its header contains one of its values, ignoring case; any rule matching is enough. At most ${MAX_RULES} rules.`),
    add,
  );
}
