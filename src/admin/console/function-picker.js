// Step 3's backend function, picked rather than typed (as Tencent's console lists them): a
// namespace, then a function of that namespace, then one of its qualifiers (a version such as
// `$LATEST` or an alias such as `$DEFAULT`), each a select filled from the admin API's function
// list. A reference to a function that is not in the list (an API imported or edited elsewhere)
// stays selectable, marked, so that opening the wizard never changes an API by itself.

import { field, h } from './ui.js';

const option = (value, label, selected) => h('option', { value, selected: value === selected }, label);

/** The namespaces, the functions of `namespace` and the qualifiers of `namespace/name` in `functions`. */
export function choices(functions, namespace, name) {
  const namespaces = [...new Set(functions.map((fn) => fn.namespace || 'default'))].sort();
  const inNamespace = functions.filter((fn) => (fn.namespace || 'default') === namespace);
  const names = [...new Set(inNamespace.map((fn) => fn.name))].sort();
  const qualifiers = [...new Set(inNamespace.filter((fn) => fn.name === name).map((fn) => fn.qualifier || '$LATEST'))].sort();
  return { namespaces, names, qualifiers };
}

/**
 * The picker of `reference` (`{namespace, name, qualifier}`) for the API field `key`;
 * `onChange(fieldName)` runs after a select changed (the wizard re-reads and re-renders the step,
 * then `settle` fixes the dependent choices).
 */
export function functionPicker(key, legend, reference, functions, { required, onChange }) {
  const namespace = reference?.namespace || 'default';
  const name = reference?.name ?? '';
  const qualifier = reference?.qualifier || '$LATEST';
  const { namespaces, names, qualifiers } = choices(functions, namespace, name);
  const unlisted = '(not in the function list)';
  const namespaceSelect = h('select', {}, [...new Set([...namespaces, namespace])].map((value) => option(value, namespaces.includes(value) ? value : `${value} ${unlisted}`, namespace)));
  const nameSelect = h(
    'select',
    {},
    option('', names.length ? 'Choose a function' : 'No functions in this namespace', name),
    [...new Set([...names, ...(name ? [name] : [])])].map((value) => option(value, names.includes(value) ? value : `${value} ${unlisted}`, name)),
  );
  const qualifierSelect = h('select', { disabled: !name }, [...new Set([...qualifiers, qualifier])].map((value) => option(value, qualifiers.includes(value) || !name ? value : `${value} ${unlisted}`, qualifier)));
  namespaceSelect.addEventListener('change', () => onChange(`${key}.namespace`));
  nameSelect.addEventListener('change', () => onChange(key));
  qualifierSelect.addEventListener('change', () => onChange(`${key}.qualifier`));
  return h(
    'fieldset',
    { class: 'nested' },
    h('legend', {}, legend),
    h(
      'div',
      { class: 'row' },
      field('Namespace', namespaceSelect, { fieldName: `${key}.namespace` }),
      field('Function name', nameSelect, { fieldName: key, required }),
      field('Version or alias (qualifier)', qualifierSelect, { fieldName: `${key}.qualifier`, hint: '$LATEST, a published version, or an alias such as $DEFAULT.' }),
    ),
  );
}

/**
 * After a change of `changed` (a namespace or function), the reference's dependent parts that no
 * longer exist are reset: a function not in the new namespace is cleared, and a qualifier the
 * function does not have becomes its first one.
 */
export function settle(reference, functions, changed) {
  const namespace = reference.namespace || 'default';
  const { names, qualifiers } = choices(functions, namespace, reference.name);
  if (changed.endsWith('.namespace') && !names.includes(reference.name)) reference.name = '';
  if (!changed.endsWith('.qualifier')) {
    const now = choices(functions, namespace, reference.name).qualifiers;
    if (!now.includes(reference.qualifier)) reference.qualifier = now[0] ?? '$LATEST';
  }
  return qualifiers;
}
