// The console's only script. Pages work without it; it makes live pages live: a page whose body
// has data-live subscribes to its own URL as server-sent events, and each event is the page's
// main content rendered again by the server; a `stale` event says a read failed (the page stays).
const live = document.body.dataset.live === 'true';
const main = document.querySelector('main');
if (live && main && 'EventSource' in window) {
  const indicator = document.querySelector('.live-indicator');
  const stale = document.getElementById('live-stale');
  const announcer = document.getElementById('live-announce');
  /** The newest body the server sent that is not shown yet. */
  let pending;
  const show = () => {
    if (pending === undefined || busy(main)) return;
    const focused = focusKey(main, document.activeElement);
    const typed = changedFields(main);
    const before = announcement(main);
    main.innerHTML = pending;
    pending = undefined;
    restoreFields(main, typed);
    if (focused) refocus(main, focused);
    // A swapped body is silent to a screen reader: a change of the state its heading shows ("Job
    // imp_1: failed", the server's words in the page's language) is said in the status region, and
    // only a change, so a progress tick every few seconds says nothing (WCAG 4.1.3).
    const after = announcement(main);
    if (announcer && after && after !== before) announcer.textContent = after;
  };
  /** The page's stream while it is open; none while the tab is hidden or once the page is no longer live. */
  let source;
  let ended = false;
  const connect = () => {
    source = new EventSource(location.href);
    source.onopen = () => indicator?.removeAttribute('hidden');
    source.onmessage = (event) => {
      stale?.setAttribute('hidden', '');
      indicator?.removeAttribute('hidden');
      pending = event.data;
      show();
    };
    // A read the server could not make: the page stays as it was, says why, and is not shown as live
    // until the server, which keeps trying, sends a body again.
    source.addEventListener('stale', (event) => {
      const reason = stale?.querySelector('.live-stale-error');
      if (reason) reason.textContent = event.data;
      stale?.removeAttribute('hidden');
      indicator?.setAttribute('hidden', '');
    });
    source.addEventListener('end', () => {
      ended = true;
      disconnect();
      show();
    });
    source.onerror = () => indicator?.setAttribute('hidden', '');
  };
  const disconnect = () => {
    source?.close();
    source = undefined;
    indicator?.setAttribute('hidden', '');
  };
  // Every render reads the environment again (a page of the overview makes four ListExecutions
  // calls, against a quota of 2 a second in most Regions, which every operator tool of the account
  // shares): a tab nobody looks at reads nothing. Hidden, its stream is closed (the server stops
  // rendering it); shown again, a new stream's first event is the page as it is now.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') disconnect();
    else if (!ended && !source) connect();
  });
  if (document.visibilityState !== 'hidden') connect();
  // Held while someone is in a form; shown once they leave it.
  main.addEventListener('focusout', () => setTimeout(show, 0));
}

/** The sentence saying the state the page's heading shows, where the page has one. */
function announcement(main) {
  return main.querySelector('[data-announce]')?.dataset.announce;
}

/**
 * Whether swapping the page's body now would take the ground from under an operator: the focus in a
 * form (typing a Stop's cause, about to press its button), or on a field anywhere. What they typed
 * in a form they left is carried into the new body ({@link changedFields}), so it holds nothing.
 */
function busy(main) {
  const active = document.activeElement;
  if (!active || !main.contains(active)) return false;
  return active.matches('input:not([type=hidden]), select, textarea') || active.closest('form') !== null;
}

/**
 * The fields of main's forms changed from how the page came, as where to find them in a new body
 * (the form by id, else by action; the field by name, and which of that name it is) and their state.
 */
function changedFields(main) {
  const typed = [];
  for (const form of main.querySelectorAll('form')) {
    const action = form.getAttribute('action');
    const selector = form.id
      ? `form#${CSS.escape(form.id)}`
      : action === null
        ? null
        : `form[action="${CSS.escape(action)}"]`;
    if (!selector) continue;
    for (const field of form.elements) {
      if (!field.name || !changed(field)) continue;
      const named = [...form.elements].filter((other) => other.name === field.name);
      typed.push({ selector, name: field.name, index: named.indexOf(field), state: stateOf(field) });
    }
  }
  return typed;
}

/** Puts the fields {@link changedFields} found back as they were, where the new body has them. */
function restoreFields(main, typed) {
  for (const { selector, name, index, state } of typed) {
    const form = main.querySelector(selector);
    const field = form && [...form.elements].filter((other) => other.name === name)[index];
    if (field && stateOf(field).kind === state.kind) setState(field, state);
  }
}

function stateOf(field) {
  if (field instanceof HTMLSelectElement)
    return { kind: 'select', selected: [...field.selectedOptions].map((option) => option.value) };
  if (field.type === 'checkbox' || field.type === 'radio')
    return { kind: field.type, checked: field.checked };
  return { kind: field.type, value: field.value };
}

function setState(field, state) {
  if (state.kind === 'select') {
    for (const option of field.options) option.selected = state.selected.includes(option.value);
  } else if ('checked' in state) {
    field.checked = state.checked;
  } else {
    field.value = state.value;
  }
}

function changed(field) {
  if (field instanceof HTMLSelectElement)
    return [...field.options].some((option) => option.selected !== option.defaultSelected);
  if (!(field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement) || field.type === 'hidden')
    return false;
  if (field.type === 'checkbox' || field.type === 'radio') return field.checked !== field.defaultChecked;
  return field.value !== field.defaultValue;
}

/**
 * How to find `element` again in a new body: its id, else its tag with what places it (a link's
 * href, a control's form action and name), and which of the matches it is.
 */
function focusKey(main, element) {
  if (!element || element === main || !main.contains(element)) return null;
  if (element.id) return { selector: `#${CSS.escape(element.id)}`, index: 0 };
  const attribute = (name, value) => (value === null ? '' : `[${name}="${CSS.escape(value)}"]`);
  const form = element.closest('form');
  const selector =
    (form ? `form${attribute('action', form.getAttribute('action'))} ` : '') +
    element.localName +
    attribute('href', element.getAttribute('href')) +
    attribute('name', element.getAttribute('name'));
  return { selector, index: [...main.querySelectorAll(selector)].indexOf(element) };
}

/** Focus back where it was (WCAG 2.4.3); on the page's main content when that is gone. */
function refocus(main, { selector, index }) {
  const target = main.querySelectorAll(selector)[Math.max(index, 0)];
  if (target) {
    target.focus({ preventScroll: true });
  } else {
    main.tabIndex = -1;
    main.focus({ preventScroll: true });
  }
}

// Times are rendered in UTC by the server; show them in the browser's own zone, named (the CLI and
// the logs say UTC), keeping UTC as the title.
function localTimes(root) {
  for (const element of root.querySelectorAll('time[datetime]')) {
    const date = new Date(element.getAttribute('datetime'));
    if (Number.isNaN(date.getTime()) || element.title) continue;
    element.title = element.textContent;
    element.textContent = date.toLocaleString(document.documentElement.lang, { timeZoneName: 'short' });
  }
}
localTimes(document);
new MutationObserver(() => localTimes(document)).observe(main ?? document.body, {
  childList: true,
  subtree: true,
});

// A form posts once: a second click while the action runs sends nothing. A nicety only: the server
// acts once per form's action id (see startConsole) and answers a repeat with the first's outcome.
document.addEventListener('submit', (event) => {
  const button = event.target.querySelector('button[type=submit]');
  if (button) setTimeout(() => button.setAttribute('disabled', ''), 0);
});
