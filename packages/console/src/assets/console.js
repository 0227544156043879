// The console's only script. Pages work without it; it makes live pages live: a page whose body
// has data-live subscribes to its own URL as server-sent events, and each event is the page's
// main content rendered again by the server.
const live = document.body.dataset.live === 'true';
if (live && 'EventSource' in window) {
  const indicator = document.querySelector('.live-indicator');
  const main = document.querySelector('main');
  const source = new EventSource(location.href);
  source.onopen = () => indicator?.removeAttribute('hidden');
  source.onmessage = (event) => {
    // Not while a field of the page is being typed in: the next event brings the news.
    const typing = document.activeElement?.matches('input:not([type=hidden]), select, textarea');
    if (main && !(typing && main.contains(document.activeElement))) main.innerHTML = event.data;
  };
  source.addEventListener('end', () => {
    source.close();
    indicator?.setAttribute('hidden', '');
  });
  source.onerror = () => indicator?.setAttribute('hidden', '');
}

// Times are rendered in UTC by the server; show them in the browser's own zone, keeping UTC as the title.
function localTimes(root) {
  for (const element of root.querySelectorAll('time[datetime]')) {
    const date = new Date(element.getAttribute('datetime'));
    if (Number.isNaN(date.getTime()) || element.title) continue;
    element.title = element.textContent;
    element.textContent = date.toLocaleString(document.documentElement.lang);
  }
}
localTimes(document);
new MutationObserver(() => localTimes(document)).observe(document.querySelector('main') ?? document.body, {
  childList: true,
  subtree: true,
});

// A form posts once: a second click while the action runs would act twice.
document.addEventListener('submit', (event) => {
  const button = event.target.querySelector('button[type=submit]');
  if (button) setTimeout(() => button.setAttribute('disabled', ''), 0);
});
