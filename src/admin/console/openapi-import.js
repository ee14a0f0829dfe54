// OpenAPI import on the service page (Tencent: API 管理 > 导入 API): a document pasted or read
// from a local file (FileReader: nothing leaves the browser but the call to the admin API),
// imported into the draft, and the admin API's report: the APIs imported and every item it could
// not map, with why. Nothing is published.

import { call, segment } from './api.js';
import { functionKey } from './checks.js';
import { busy, clearFieldErrors, describe, field, h, refresh, showError, showFieldError, table, toast } from './ui.js';

// The last import's report, for the service page's next renders (an import re-renders the page,
// so its API list shows the new APIs). Kept until dismissed or another service is shown.
let lastReport = null;

/** The import form of service `serviceId`; `functions` is the admin API's function list. */
export function openApiImportCard(serviceId, functions) {
  const base = `/v1/services/${segment(serviceId)}`;
  const documentText = h('textarea', { rows: 8, class: 'mono', spellcheck: 'false', placeholder: 'openapi: 3.0.0\ninfo: {title: pets, version: "1"}\npaths: ...' });
  const file = h('input', { type: 'file', accept: '.json,.yaml,.yml,application/json,application/yaml,text/yaml' });
  const fileStatus = h('p', { class: 'hint', 'aria-live': 'polite' });
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    const reader = new FileReader();
    reader.addEventListener('load', () => {
      documentText.value = String(reader.result ?? '');
      fileStatus.textContent = `Read ${chosen.name} (${chosen.size} bytes) into the document above.`;
    });
    reader.addEventListener('error', () => {
      fileStatus.textContent = `Cannot read ${chosen.name}: ${reader.error?.message ?? 'unknown error'}`;
    });
    reader.readAsText(chosen);
  });
  const defaultFunction = h(
    'select',
    {},
    h('option', { value: '' }, 'none (each operation names its own with x-scfgate-function)'),
    functions.map((fn) => h('option', { value: functionKey(fn) }, functionKey(fn))),
  );
  const replace = h('input', { type: 'checkbox', id: `replace-${serviceId}` });

  const form = h(
    'form',
    { class: 'openapi-import', novalidate: true, 'aria-labelledby': 'import-title' },
    h('h3', { id: 'import-title' }, 'Import OpenAPI'),
    h('p', { class: 'muted' }, 'OpenAPI 3.0, JSON or YAML. The APIs are added to the draft; publish to serve them.'),
    field('OpenAPI document', documentText, { fieldName: 'document', hint: 'Paste it, or choose a file below.' }),
    field('Or choose a file', file, { fieldName: 'file' }),
    fileStatus,
    field('Backend function', defaultFunction, { fieldName: 'function', hint: 'For operations without x-scfgate-function (OpenAPI has no notion of a backend).' }),
    h('div', { class: 'field' }, h('label', { for: replace.id, class: 'inline' }, replace, ' Replace APIs that have the same name')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Import')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    form.querySelector(':scope > .banner.error')?.remove();
    if (!documentText.value.trim()) {
      showFieldError(form, 'document', 'required: paste a document or choose a file');
      documentText.focus();
      return;
    }
    const query = new URLSearchParams();
    if (defaultFunction.value) query.set('function', defaultFunction.value);
    if (replace.checked) query.set('replace', 'true');
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        const report = await call('POST', `${base}/openapi${query.toString() ? `?${query}` : ''}`, documentText.value, { raw: true });
        lastReport = { serviceId, report };
        toast(`Imported ${report.imported.length} API${report.imported.length === 1 ? '' : 's'}; ${report.skipped.length} item${report.skipped.length === 1 ? '' : 's'} not imported.`);
        await refresh('#import-report-title');
      } catch (error) {
        // An error without a field is about the document itself (not JSON or YAML, not OpenAPI 3).
        if (error.field) showError(form, error);
        else if (showFieldError(form, 'document', describe(error))) documentText.focus();
      }
    });
  });
  return form;
}

/** The report of the last import into `serviceId`, or null. */
export function importReport(serviceId) {
  if (lastReport?.serviceId !== serviceId) {
    lastReport = null;
    return null;
  }
  const { imported, skipped } = lastReport.report;
  const dismiss = h('button', { type: 'button', class: 'small' }, 'Dismiss report');
  const section = h(
    'section',
    { class: 'card import-report', 'aria-labelledby': 'import-report-title', dataset: { testid: 'import-report' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'import-report-title', tabindex: -1 }, 'OpenAPI import report'), dismiss),
    h('h3', {}, `Imported (${imported.length})`),
    imported.length ? h('ul', { class: 'mono' }, imported.map((name) => h('li', {}, name))) : h('p', { class: 'muted' }, 'Nothing was imported.'),
    h('h3', {}, `Not imported (${skipped.length})`),
    table(
      'Items not imported',
      ['Item', 'Why'],
      skipped.map((item) => h('tr', {}, h('td', { class: 'mono' }, item.at), h('td', {}, item.reason))),
      'Every item was mapped.',
    ),
    h('p', { class: 'muted' }, 'Imported APIs are in the draft only: publish to a stage to serve them.'),
  );
  dismiss.addEventListener('click', () => {
    lastReport = null;
    section.remove();
    document.getElementById('apis-title')?.focus();
  });
  return section;
}
