// DOM helpers shared by the views: an element builder that never parses markup (values from the
// API are always text), the live regions for toasts and errors, how an admin API error finds its
// field, and the two modal dialogs (admin token, confirmation). Dialogs are native <dialog>s:
// focus stays inside, Escape cancels.

import { ApiError } from './api.js';
import { fieldWords, messageForField } from './checks.js';

/** `h('button', {type: 'button', onclick}, 'Save')`: attributes, properties and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'value' || key === 'checked' || key === 'selected') element[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let nextId = 0;
/** A unique element id, for label/aria wiring. */
export const uid = (prefix = 'f') => `${prefix}-${++nextId}`;

/**
 * A labelled form field: `<div class="field"><label/>control<p hint/><p error/></div>`. The
 * control gets `data-field` (the admin API's field name), so errors find their place.
 */
export function field(label, control, { fieldName, hint, required } = {}) {
  const id = control.id || uid();
  control.id = id;
  const hintElement = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const errorElement = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  if (fieldName) control.dataset.field = fieldName;
  control.setAttribute('aria-describedby', [hintElement ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  return h('div', { class: 'field' }, h('label', { for: id }, label, required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null), control, hintElement, errorElement);
}

/**
 * Shows `message` (or each of several) under the control of `fieldName` in `container`; false when
 * none is there.
 */
export function showFieldError(container, fieldName, message) {
  const control = container.querySelector(`[data-field="${CSS.escape(fieldName)}"]`);
  if (!control) return false;
  control.setAttribute('aria-invalid', 'true');
  const error = document.getElementById(`${control.id}-error`);
  if (error) {
    const messages = Array.isArray(message) ? message : [message];
    error.replaceChildren(...messages.map((text) => h('span', { class: 'error-line' }, text)));
    error.hidden = false;
  }
  return true;
}

/** Removes every inline error in `container`. */
export function clearFieldErrors(container) {
  for (const control of container.querySelectorAll('[aria-invalid="true"]')) control.removeAttribute('aria-invalid');
  for (const error of container.querySelectorAll('.field-error')) {
    error.textContent = '';
    error.hidden = true;
  }
}

/** A short confirmation in the polite live region. */
export function toast(message) {
  const region = document.getElementById('toasts');
  const item = h('div', { class: 'toast' }, message);
  region.append(item);
  setTimeout(() => item.remove(), 6000);
}

/** An error banner at the top of `container`, announced by screen readers (role=alert). */
export function errorBanner(container, message) {
  container.querySelector(':scope > .banner.error')?.remove();
  const banner = h('div', { class: 'banner error', role: 'alert' }, message);
  container.prepend(banner);
  return banner;
}

/** Seconds since the epoch as local date and time. */
export function formatTime(seconds) {
  if (!seconds) return '';
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// The opening of each dialog whose close has not been seen yet.
const openings = new Map();

/**
 * Shows `dialog` modally; resolves to its returnValue once closed ('' for Escape). A `close` event
 * is dispatched later than the closing itself, so it may arrive after the dialog was opened again
 * (a quick Escape then Enter): an opening is settled with its own value when the next one starts,
 * and a close event seen while the dialog is open is stale.
 */
function openDialog(dialog) {
  openings.get(dialog)?.();
  dialog.returnValue = '';
  return new Promise((resolve) => {
    const finish = () => {
      dialog.removeEventListener('close', onClose);
      openings.delete(dialog);
      resolve(dialog.returnValue);
    };
    const onClose = () => {
      if (!dialog.open) finish();
    };
    dialog.addEventListener('close', onClose);
    openings.set(dialog, finish);
    dialog.showModal();
  });
}

/** Asks for the admin token; resolves to it, or null when cancelled (Escape). */
export async function askToken(message) {
  const dialog = document.getElementById('token-dialog');
  const input = dialog.querySelector('input');
  dialog.querySelector('.dialog-message').textContent = message;
  input.value = '';
  const closed = openDialog(dialog);
  input.focus();
  return (await closed) === 'ok' && input.value.trim() ? input.value.trim() : null;
}

/** Asks to confirm a consequential action; resolves to true or false (Escape: false). */
export async function confirmAction(title, message, confirmLabel) {
  const dialog = document.getElementById('confirm-dialog');
  dialog.querySelector('h2').textContent = title;
  dialog.querySelector('.dialog-message').textContent = message;
  const confirm = dialog.querySelector('button[value="ok"]');
  confirm.textContent = confirmLabel;
  const opener = document.activeElement;
  const closed = openDialog(dialog);
  confirm.focus();
  const answer = (await closed) === 'ok';
  if (opener instanceof HTMLElement && opener.isConnected && !dialog.open) opener.focus();
  return answer;
}

/** Disables `button` while `work` runs (no double submit), then restores it. */
export async function busy(button, work) {
  if (button) button.disabled = true;
  try {
    return await work();
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

/** An error as a sentence for a banner. */
export function describe(error) {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return `The admin API cannot be reached (${error.message}). Is scfgate still running?`;
  return String(error?.message ?? error);
}

/**
 * Shows an admin API error next to its field in `form` (`fieldFor` maps the API's field name to
 * the form's, e.g. `environments.stage` to `environments`), or as a banner when it has none.
 */
export function showError(form, error, fieldFor = (name) => name) {
  const fieldName = error instanceof ApiError && error.field ? fieldFor(error.field) : null;
  if (fieldName && showFieldError(form, fieldName, messageForField(error.message))) {
    form.querySelector(`[data-field="${CSS.escape(fieldName)}"]`)?.focus();
    return;
  }
  errorBanner(form, error instanceof ApiError && error.field ? `${fieldWords(error.field)}: ${describe(error)}` : describe(error));
}

/** Drops empty strings, so a blank optional input means "not set". */
export function withoutBlanks(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== '' && value !== undefined));
}

/**
 * A data table with a caption for screen readers, or `empty` as a sentence when there are no rows.
 * On a narrow screen it scrolls inside its own box (the page never does), or with `stack` each
 * row becomes a block of its cells (cells name their column with `data-label`).
 */
export function table(caption, headings, rows, empty, { stack = false } = {}) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: stack ? 'stack' : null },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, headings.map((heading) => h('th', { scope: 'col' }, heading)))),
      h('tbody', {}, rows),
    ),
  );
}

// What the shown view keeps running (the monitoring page's timer), stopped when it is left.
const leaving = [];

/** Runs `stop` when the current view is left (another route, or its own re-render). */
export function onLeave(stop) {
  leaving.push(stop);
}

/** Stops what the view being left keeps running (app.js, before each route). */
export function leaveView() {
  for (const stop of leaving.splice(0)) stop();
}

// Set by app.js (which owns routing), so view modules can re-render without importing it.
let rerender = async () => {};

/** Tells `refresh` how to re-render the current view. */
export function setRefresh(render) {
  rerender = render;
}

/** Re-renders the current view after a change; `focusSelector` picks what gets focus afterwards. */
export function refresh(focusSelector) {
  return rerender(focusSelector);
}
