// The desk: the alerts of every watched topic, newest first, live over Server-Sent Events.
// An alert is one per story and topic: a later revision of it (same alert_id, a higher
// revision: updated, or retracted) takes the place of the one shown, in place. A surge alert
// (a watch, or an entity, in many more stories than usual) gets a card of its own, under
// the topic "surge".
// Every text in an alert or a dispatch is untrusted: the page is built with createElement
// and textContent only, never from HTML, and links only to Wikidata ids.

const MAX_HELD = 2000;          // alerts kept in memory; the oldest go first
const MAX_SEEN = 10000;         // alert ids remembered, with their latest revision, to drop redeliveries
const TOPIC_COLOURS = 6;        // .topic-0 ... .topic-5 in desk.css
const FRAME_BUDGET_MS = 8;      // rendering time per animation frame
const RELATIVE_EVERY_MS = 30000;
const MAX_BACKOFF_MS = 5000;
const FETCH_TIMEOUT_MS = 15000;
const SALIENCE = { headline: 'in the headline', lead: 'in the lead', body: 'through the body' };
const STATUSES = new Set(['new', 'updated', 'retracted']);
const LABELS = new Set(['PER', 'ORG', 'LOC', 'MISC']);
const QID = /^Q[0-9]+$/;
const URL_LIMITS = { topic: 100, entity: 200, q: 500 };  // what the server accepts
const SURGE = 'surge';          // the topic name surge alerts are shown under
const MAX_SURGE_HEADLINES = 5;

const $ = (selector) => document.querySelector(selector);
const ui = {
  list: $('#alerts'), count: $('#count'), connection: $('#connection'),
  topic: $('#filter-topic'), text: $('#filter-text'),
  entity: $('#filter-entity'), entityName: $('#filter-entity .entity-name'),
  clearEntity: $('#clear-entity'), dialog: $('#details'),
};
const desk = {
  maxCards: 500,
  topics: [],            // watched names, in the server's order: the index gives the colour
  descriptions: new Map(),
  records: [],           // held alerts, oldest first
  byId: new Map(),
  seen: new Map(),       // alert id -> latest revision received, least recently revised first
  pending: [],           // records waiting for a card, oldest first
  stale: new Set(),      // records with a card drawn for an older revision
  frame: 0,
  filter: { topic: '', entity: '', entityName: '', q: '', terms: [] },
};
const recordOf = new WeakMap();  // <li> -> its record

// ---- small helpers ----

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

const str = (value) => (typeof value === 'string' ? value : '');
const fold = (text) => text.normalize('NFD').replace(/\p{M}/gu, '').replace(/[‘’]/g, "'").toLowerCase();
const formatScore = (score) => (Number.isFinite(score) ? score.toFixed(2) : '–');
const salienceText = (salience) => SALIENCE[salience] ?? SALIENCE.body;
const entityKey = (entity) => entity.qid || entity.name;

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const UNITS = [['year', 31536e3], ['month', 2592e3], ['week', 604800], ['day', 86400],
  ['hour', 3600], ['minute', 60]];

function relativeText(ms) {
  if (!Number.isFinite(ms)) return '';
  const seconds = (ms - Date.now()) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  const [unit, size] = UNITS.find(([, s]) => Math.abs(seconds) >= s) ?? UNITS[UNITS.length - 1];
  return relativeFormat.format(Math.round(seconds / size), unit);
}

function topicIndex(name) {
  let index = desk.topics.indexOf(name);
  if (index < 0) {  // a topic the config did not name: give it the next colour
    index = desk.topics.push(name) - 1;
    ui.topic.append(new Option(name, name));
  }
  return index;
}
const topicClass = (name) => `topic-${topicIndex(name) % TOPIC_COLOURS}`;

// ---- highlighting spans of text ----

// The server counts offsets in code points (Python); JavaScript strings in UTF-16 units.
function unitIndex(text) {
  if (!/[\uD800-\uDFFF]/.test(text)) return (i) => i;
  const units = [0];
  for (const ch of text) units.push(units[units.length - 1] + ch.length);
  return (i) => (Number.isInteger(i) ? units[i] : undefined);
}

// The items of `field` whose offsets fall inside `text` and point at their own text.
function locate(text, items, field, kind) {
  const at = unitIndex(text);
  const spans = [];
  for (const [index, item] of (Array.isArray(items) ? items : []).entries()) {
    if (!item || (item.field ?? 'body') !== field) continue;
    const s = at(item.start), e = at(item.end);
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || s >= e || e > text.length) continue;
    if (typeof item.text === 'string' && text.slice(s, e) !== item.text) continue;
    spans.push({ s, e, item, kind, index });
  }
  return spans;
}

const bySpan = (a, b) => a.s - b.s || b.e - a.e;
const isNegative = (evidence) => !(Number(evidence.weight) > 0);

function evidenceMark(span) {
  const ev = span.item;
  const mark = el('mark', isNegative(ev) ? 'evidence negative' : 'evidence');
  mark.dataset.rule = str(ev.rule);
  mark.dataset.evidence = span.index;  // which evidence of the alert: the pieces of a cut one share it
  mark.title = `${str(ev.rule)} · weight ${Number(ev.weight).toFixed(2)}`;
  return mark;
}

// Cards: one <mark> per evidence, nested when one lies inside another, so that each mark
// holds exactly its evidence text; a span that crosses another is cut at the crossing.
function appendNested(parent, text, spans, from, to) {
  let pos = from;
  let rest = [...spans].sort(bySpan);
  while (rest.length) {
    const [top, ...others] = rest;
    const inside = [];
    rest = [];
    for (const span of others) {
      if (span.s >= top.e) rest.push(span);
      else if (span.e <= top.e) inside.push(span);
      else { inside.push({ ...span, e: top.e }); rest.push({ ...span, s: top.e }); }
    }
    rest.sort(bySpan);
    if (top.s > pos) parent.append(text.slice(pos, top.s));
    const mark = evidenceMark(top);
    appendNested(mark, text, inside, top.s, top.e);
    parent.append(mark);
    pos = top.e;
  }
  if (to > pos) parent.append(text.slice(pos, to));
}

function describeSpan({ kind, item }) {
  if (kind === 'entity') {
    const name = str(item.canonical) || str(item.text);
    return `${str(item.label)} ${name}${QID.test(str(item.wikidata_id)) ? ` (${item.wikidata_id})` : ''}`;
  }
  return `${str(item.topic)}: ${str(item.rule)} · weight ${Number(item.weight).toFixed(2)}`;
}

// Details: the text cut at every span boundary, each piece marked with the kinds covering it.
function appendSegments(parent, text, spans) {
  const cuts = [...new Set([0, text.length, ...spans.flatMap((sp) => [sp.s, sp.e])])]
    .sort((a, b) => a - b);
  for (let i = 0; i + 1 < cuts.length; i += 1) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    const over = spans.filter((sp) => sp.s <= a && sp.e >= b);
    if (!over.length) { parent.append(text.slice(a, b)); continue; }
    const entity = over.find((sp) => sp.kind === 'entity');
    const evidence = over.filter((sp) => sp.kind === 'evidence');
    const mark = el('mark', null, text.slice(a, b));
    mark.classList.toggle('entity', Boolean(entity));
    mark.classList.toggle('evidence', evidence.length > 0);
    mark.classList.toggle('negative', evidence.some((sp) => isNegative(sp.item)));
    if (entity) mark.dataset.label = str(entity.item.label);
    if (evidence.length) mark.dataset.rule = evidence.map((sp) => str(sp.item.rule)).join(' ');
    mark.title = over.map(describeSpan).join('\n');
    parent.append(mark);
  }
}

// ---- alerts in memory ----

// What a card and the filters need of an alert, worked out only when it gets a card: a burst
// then costs little more than parsing its alerts.
function digest(alert) {
  const entities = (Array.isArray(alert.entities) ? alert.entities : [])
    .filter((e) => e && typeof e.name === 'string')
    .map((e) => ({ name: e.name, label: LABELS.has(e.label) ? e.label : 'MISC',
      qid: QID.test(str(e.wikidata_id)) ? e.wikidata_id : null }));
  const dateline = [str(alert.dateline?.city), str(alert.dateline?.country)].filter(Boolean).join(', ');
  const when = str(alert.published_at) || str(alert.alerted_at);
  const words = [str(alert.headline), str(alert.lead), str(alert.agency), dateline,
    ...entities.map((e) => e.name)];
  // An entity filter matches its id or, typed into the address by hand, its name.
  const entityKeys = new Set(entities.flatMap((e) => [entityKey(e), e.name]));
  return { entities, dateline, when, ms: Date.parse(when), entityKeys, haystack: fold(words.join('\n')) };
}

// A surge alert: what its card and the filters need, as `digest` gives of an alert.
function digestSurge(surge) {
  const qid = surge.kind === 'entity' && QID.test(str(surge.key)) ? surge.key : null;
  const entities = surge.kind === 'entity' && str(surge.name)
    ? [{ name: surge.name, label: 'MISC', qid }] : [];
  const when = str(surge.window_end) || str(surge.alerted_at);
  const headlines = surgeHeadlines(surge);
  const words = [str(surge.name), str(surge.key), ...headlines.map((h) => str(h.headline))];
  const entityKeys = new Set(entities.flatMap((e) => [entityKey(e), e.name]));
  return { entities, dateline: '', when, ms: Date.parse(when), entityKeys, haystack: fold(words.join('\n')) };
}

const surgeHeadlines = (surge) => (Array.isArray(surge.top_headlines) ? surge.top_headlines : [])
  .filter((h) => h && typeof h === 'object');

// `kind` is the live stream's event: 'alert', or 'surge' for a surge alert (no topic of its
// own, said once: revision 1).
function receive(data, kind = 'alert') {
  let alert;
  try {
    alert = JSON.parse(data);
  } catch {
    console.warn('desk: skipped an alert that is not JSON');
    return;
  }
  if (kind === SURGE && alert && typeof alert === 'object') alert = { ...alert, topic: SURGE, revision: 1 };
  if (typeof alert?.alert_id !== 'string' || typeof alert.topic !== 'string' || !alert.topic) {
    console.warn('desk: skipped an alert without alert_id or topic');
    return;
  }
  const revision = Number.isSafeInteger(alert.revision) && alert.revision >= 1 ? alert.revision : 1;
  const record = desk.byId.get(alert.alert_id);
  const known = desk.seen.get(alert.alert_id) ?? record?.revision;
  // A redelivery, a resend after a reconnect, or an older revision arriving late.
  if (known !== undefined && revision <= known) return;
  desk.seen.delete(alert.alert_id);  // to the end: the least recently revised are forgotten first
  desk.seen.set(alert.alert_id, revision);
  if (desk.seen.size > MAX_SEEN) desk.seen.delete(desk.seen.keys().next().value);
  const status = STATUSES.has(alert.status) ? alert.status : (revision > 1 ? 'updated' : 'new');
  if (record) revise(record, alert, revision, status);
  else hold({ alert, id: alert.alert_id, revision, status, li: null });
}

// A later revision of an alert held: it keeps its place; a card drawn for it is redrawn.
function revise(record, alert, revision, status) {
  Object.assign(record, { alert, revision, status });
  if (!record.li) return;  // waiting for a card (it gets this revision's), or none any more
  desk.stale.add(record);
  if (!desk.frame) desk.frame = requestAnimationFrame(flush);
}

function hold(record) {
  desk.records.push(record);
  desk.byId.set(record.id, record);
  while (desk.records.length > MAX_HELD) {
    const old = desk.records.shift();
    desk.byId.delete(old.id);
    desk.stale.delete(old);
    old.li?.remove();
  }
  // Alerts that newer ones would push out of the list at once never get a card (and a
  // background tab, where animation frames wait, keeps a bounded queue).
  if (desk.pending.push(record) > desk.maxCards) desk.pending.shift();
  if (!desk.frame) desk.frame = requestAnimationFrame(flush);
}

// ---- cards ----

// Queued alerts become cards in batches, one per animation frame, within a time budget;
// cards of revised alerts are redrawn first, where they are.
function flush() {
  desk.frame = 0;
  const deadline = performance.now() + FRAME_BUDGET_MS;
  const batch = document.createDocumentFragment();
  let made = 0;
  for (const record of desk.stale) {
    if (made >= 10 && performance.now() >= deadline) break;
    desk.stale.delete(record);
    if (!record.li || !desk.byId.has(record.id)) continue;
    redraw(record);
    made += 1;
  }
  while (desk.pending.length && (made < 10 || performance.now() < deadline)) {
    const record = desk.pending.shift();
    if (!desk.byId.has(record.id) || record.li) continue;
    record.li = drawCard(record);
    batch.prepend(record.li);  // newest on top
    made += 1;
  }
  if (made < 20) for (const li of batch.children) li.firstElementChild.classList.add('fresh');
  ui.list.prepend(batch);
  while (ui.list.childElementCount > desk.maxCards) {
    const li = ui.list.lastElementChild;
    recordOf.get(li).li = null;
    li.remove();
  }
  updateCount();
  if (desk.pending.length || desk.stale.size) desk.frame = requestAnimationFrame(flush);
}

function drawCard(record) {
  const surge = record.alert.topic === SURGE;
  Object.assign(record, surge ? digestSurge(record.alert) : digest(record.alert));
  resolveEntityName(record);
  const li = surge ? buildSurgeCard(record) : buildCard(record);
  li.hidden = !matches(record);
  return li;
}

// The card of a revised alert, rebuilt in the place of the old one; the details follow it.
function redraw(record) {
  const old = record.li;
  const focused = old.contains(document.activeElement);
  record.li = drawCard(record);
  record.li.firstElementChild.classList.add('fresh');
  old.replaceWith(record.li);
  recordOf.delete(old);
  if (focused && !record.li.hidden) record.li.firstElementChild.focus();
  if (ui.dialog.open && opener && old.contains(opener)) openDetails(record.li.firstElementChild);
}

function buildCard(record) {
  const { alert } = record;
  const li = el('li');
  const card = el('article', `card ${topicClass(alert.topic)}`);
  card.tabIndex = 0;
  card.dataset.alertId = record.id;
  card.dataset.topic = alert.topic;
  card.dataset.dispatchId = str(alert.dispatch_id);
  card.dataset.revision = record.revision;
  card.dataset.status = record.status;
  card.classList.toggle('retracted', record.status === 'retracted');
  const meta = el('p', 'meta');
  meta.append(el('span', 'dateline', record.dateline), el('span', 'agency', str(alert.agency)));
  const headline = highlighted('h3', 'headline', str(alert.headline), alert.evidence, 'headline');
  if (!headline.textContent) headline.textContent = '(no headline)';
  card.append(cardHead(record), meta, headline);
  if (str(alert.lead)) card.append(highlighted('p', 'lead', alert.lead, alert.evidence, 'body'));
  const footer = el('div', 'card-foot');
  footer.append(entityChips(record.entities), detailsButton());
  card.append(footer);
  li.append(card);
  recordOf.set(li, record);
  return li;
}

function spanText(ms) {
  const minutes = Math.round(ms / 60000);
  if (minutes > 0 && minutes % 60 === 0) return minutes === 60 ? 'hour' : `${minutes / 60} hours`;
  return minutes === 1 ? 'minute' : `${minutes} minutes`;
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

// A surge: what surged, how far above its usual count, and the stories that made it.
function buildSurgeCard(record) {
  const { alert } = record;
  const li = el('li');
  const card = el('article', `card surge-card ${topicClass(SURGE)}`);
  const headlines = surgeHeadlines(alert);
  card.tabIndex = 0;
  card.dataset.alertId = record.id;
  card.dataset.topic = SURGE;
  card.dataset.kind = str(alert.kind);
  card.dataset.dispatchId = str(headlines[0]?.dispatch_id);  // Details: the top story
  card.dataset.revision = record.revision;
  card.dataset.status = record.status;
  const head = el('div', 'card-head');
  const topic = el('span', 'topic-name', SURGE);
  topic.title = desk.descriptions.get(SURGE) ?? '';
  const time = el('time', 'published', Number.isFinite(record.ms) ? absolute.format(record.ms) : record.when);
  time.dateTime = record.when;
  record.relative = el('span', 'relative', relativeText(record.ms));
  const z = Number(alert.z_score);
  head.append(topic, el('span', 'surge-kind', alert.kind === 'entity' ? 'entity' : 'watch'),
    el('span', 'z-score', `z ${Number.isFinite(z) ? z.toFixed(1) : '–'}`), time, record.relative);
  const count = Number.isSafeInteger(alert.count) ? alert.count : 0;
  const span = spanText(Date.parse(str(alert.window_end)) - Date.parse(str(alert.window_start)));
  const end = Number.isFinite(record.ms) ? ` to ${timeOfDay.format(record.ms)}` : '';
  const headline = el('h3', 'headline',
    `${str(alert.name) || str(alert.key)}: ${count} ${count === 1 ? 'story' : 'stories'} in the ${span}${end}`);
  const mean = Number(alert.baseline_mean), spread = Number(alert.baseline_spread);
  const meta = el('p', 'meta', Number.isFinite(mean) && Number.isFinite(spread)
    ? `usually ${mean.toFixed(1)} ± ${spread.toFixed(1)}` : '');
  const list = el('ol', 'surge-headlines');
  list.setAttribute('aria-label', 'Top stories');
  for (const story of headlines.slice(0, MAX_SURGE_HEADLINES)) {
    list.append(el('li', null, str(story.headline) || '(no headline)'));
  }
  const footer = el('div', 'card-foot');
  footer.append(entityChips(record.entities));
  if (card.dataset.dispatchId) footer.append(detailsButton());
  card.append(head, headline, meta, list, footer);
  li.append(card);
  recordOf.set(li, record);
  return li;
}

function cardHead(record) {
  const { alert } = record;
  const head = el('div', 'card-head');
  const topic = el('span', 'topic-name', alert.topic);
  topic.title = desk.descriptions.get(alert.topic) ?? '';
  const time = el('time', 'published', Number.isFinite(record.ms) ? absolute.format(record.ms) : record.when);
  time.dateTime = record.when;
  time.title = record.when;
  record.relative = el('span', 'relative', relativeText(record.ms));
  head.append(topic);
  if (record.status !== 'new') head.append(statusBadge(record));
  head.append(el('span', 'score', formatScore(alert.score)),
    el('span', 'salience', salienceText(alert.salience)), time, record.relative);
  return head;
}

const statusText = (record) => (record.status === 'retracted' ? 'retracted'
  : record.status === 'updated' ? `updated · rev ${record.revision}` : '');

function statusBadge(record) {
  const badge = el('span', 'revision-status', statusText(record));
  badge.title = record.status === 'retracted'
    ? `Retracted (revision ${record.revision}): a later version of the story left this topic, or the agency withdrew it`
    : `Revision ${record.revision}: a later version of the story changed this alert`;
  return badge;
}

// A headline or lead with its evidence marked.
function highlighted(tag, className, text, evidence, field) {
  const node = el(tag, className);
  appendNested(node, text, locate(text, evidence, field, 'evidence'), 0, text.length);
  return node;
}

function entityChips(entities) {
  const list = el('ul', 'entities');
  list.setAttribute('aria-label', 'Entities');
  for (const entity of entities) {
    const item = el('li');
    const chip = el('button', 'chip', entity.name);
    chip.type = 'button';
    chip.dataset.entity = entityKey(entity);
    chip.dataset.label = entity.label;
    chip.title = `Show only the alerts naming ${entity.name} (${entity.label})`;
    item.append(chip);
    if (entity.qid) {
      const link = el('a', 'wikidata', entity.qid);
      link.href = `https://www.wikidata.org/wiki/${entity.qid}`;
      link.rel = 'noopener noreferrer';
      link.target = '_blank';
      link.setAttribute('aria-label', `${entity.name} on Wikidata (${entity.qid})`);
      item.append(link);
    }
    list.append(item);
  }
  return list;
}

function detailsButton() {
  const button = el('button', 'details', 'Details');
  button.type = 'button';
  button.setAttribute('aria-haspopup', 'dialog');
  return button;
}

// One timer for every card's relative time.
function refreshRelativeTimes() {
  for (const li of ui.list.children) {
    const record = recordOf.get(li);
    const text = relativeText(record.ms);
    if (record.relative.textContent !== text) record.relative.textContent = text;
  }
}

// ---- filters and the address ----

function matches(record) {
  const { topic, entity, terms } = desk.filter;
  return (!topic || record.alert.topic === topic)
    && (!entity || record.entityKeys.has(entity))
    && terms.every((term) => record.haystack.includes(term));
}

function applyFilters() {
  for (const li of ui.list.children) {
    const hide = !matches(recordOf.get(li));
    if (li.hidden !== hide) li.hidden = hide;
  }
  updateCount();
  showEntityFilter();
}

function updateCount() {
  let shown = 0;
  for (const li of ui.list.children) if (!li.hidden) shown += 1;
  ui.count.textContent = `${shown} ${shown === 1 ? 'alert' : 'alerts'} shown`;
}

function setText(q) {
  desk.filter.q = q;
  desk.filter.terms = fold(q).split(/\s+/).filter(Boolean);
}

function setEntity(key, name) {
  Object.assign(desk.filter, { entity: key, entityName: name });
  applyFilters();
  writeAddress();
}

function resolveEntityName(record) {  // an entity filter from the address names an id
  const { entity, entityName } = desk.filter;
  if (!entity || entityName) return;
  const found = record.entities.find((e) => entityKey(e) === entity);
  if (found) { desk.filter.entityName = found.name; showEntityFilter(); }
}

function showEntityFilter() {
  const { entity, entityName } = desk.filter;
  ui.entity.hidden = !entity;
  ui.entityName.textContent = entityName || entity;
}

function readAddress() {
  const params = new URLSearchParams(location.search);
  desk.filter.topic = params.get('topic') ?? '';
  desk.filter.entity = params.get('entity') ?? '';
  setText(params.get('q') ?? '');
}

let addressTimer = 0;
function writeAddress({ later = false } = {}) {
  clearTimeout(addressTimer);
  if (later) { addressTimer = setTimeout(writeAddress, 300); return; }  // not on every keystroke
  const params = new URLSearchParams();
  const { topic, entity, q } = desk.filter;
  for (const [name, value] of Object.entries({ topic, entity, q })) {
    if (value && value.length <= URL_LIMITS[name]) params.set(name, value);
  }
  const query = params.toString();
  history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
}

function bindFilters() {
  if (desk.filter.topic) topicIndex(desk.filter.topic);
  ui.topic.value = desk.filter.topic;
  ui.text.value = desk.filter.q;
  showEntityFilter();
  ui.topic.addEventListener('change', () => {
    desk.filter.topic = ui.topic.value;
    applyFilters();
    writeAddress();
  });
  ui.text.addEventListener('input', () => {
    setText(ui.text.value);
    applyFilters();
    writeAddress({ later: true });
  });
  ui.clearEntity.addEventListener('click', () => {
    setEntity('', '');
    ui.list.querySelector('li:not([hidden]) > .card')?.focus();
  });
}

// ---- details ----

let detailsRequest = null;
let opener = null;

const part = (selector) => ui.dialog.querySelector(selector);

async function openDetails(card) {
  if (!card.dataset.dispatchId) return;  // a surge without stories
  const record = desk.byId.get(card.dataset.alertId);
  opener = card;
  detailsRequest?.abort();
  const request = new AbortController();
  detailsRequest = request;
  resetDetails(card, record);
  if (!ui.dialog.open) ui.dialog.showModal();
  try {
    const response = await fetch(`/api/dispatches/${encodeURIComponent(card.dataset.dispatchId)}`,
      { signal: AbortSignal.any([request.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
        headers: { Accept: 'application/json' } });
    const payload = await response.json().catch(() => null);
    if (request !== detailsRequest) return;
    if (response.status === 404) {
      part('.status').textContent = '';
      part('.not-held').hidden = false;
    } else if (!response.ok || typeof payload?.body !== 'string') {
      part('.status').textContent = `The desk could not give this dispatch (HTTP ${response.status}${
        typeof payload?.error === 'string' ? `: ${payload.error}` : ''}).`;
    } else {
      showDispatch(payload, record);
    }
  } catch (error) {
    if (error.name !== 'AbortError') part('.status').textContent = 'The desk server did not answer.';
  }
}

function resetDetails(card, record) {
  const alert = record?.alert;
  part('.headline').textContent = alert?.topic === SURGE ? str(surgeHeadlines(alert)[0]?.headline)
    : alert ? str(alert.headline) : card.querySelector('.headline').textContent;
  part('.dialog-meta').textContent = [record && statusText(record), record?.dateline, str(alert?.agency),
    card.querySelector('.published').textContent, card.dataset.dispatchId].filter(Boolean).join(' · ');
  part('.status').textContent = 'Loading the dispatch…';
  part('.not-held').hidden = true;
  part('.dispatch').hidden = true;
  part('.body').replaceChildren();
  part('.topics').replaceChildren();
}

function showDispatch(dispatch, record) {
  const topics = Array.isArray(dispatch.topics) ? dispatch.topics : [];
  const evidence = topics.flatMap((match) => (Array.isArray(match?.evidence) ? match.evidence : [])
    .map((ev) => ({ ...ev, topic: match.topic })));
  const spansOf = (text, field) => [...locate(text, dispatch.entities, field, 'entity'),
    ...locate(text, evidence, field, 'evidence')];
  const headline = str(dispatch.headline);
  if (headline) {
    part('.headline').replaceChildren();
    appendSegments(part('.headline'), headline, spansOf(headline, 'headline'));
  } else if (!record) {
    part('.headline').textContent = '(no headline)';
  }
  appendSegments(part('.body'), dispatch.body, spansOf(dispatch.body, 'body'));
  part('.topics').replaceChildren(...topics.filter(Boolean).map(topicSection));
  part('.status').textContent = '';
  part('.dispatch').hidden = false;
}

function topicSection(match) {
  const name = str(match.topic);
  const section = el('section', `topic ${topicClass(name)}`);
  section.dataset.topic = name;
  const head = el('h4');
  head.append(el('span', 'topic-name', name), el('span', 'score', formatScore(match.score)),
    el('span', 'salience', salienceText(match.salience)));
  const list = el('ol', 'evidence-list');
  for (const ev of Array.isArray(match.evidence) ? match.evidence : []) {
    const negative = isNegative(ev);
    const item = el('li', negative ? 'evidence-item negative' : 'evidence-item');
    const weight = Number(ev.weight);
    item.append(el('q', 'evidence-text', str(ev.text)), el('span', 'rule', str(ev.rule)),
      el('span', 'weight', `${weight > 0 ? '+' : ''}${weight.toFixed(2)}`),
      el('span', 'where', str(ev.position) || str(ev.field)));
    if (negative) item.append(el('span', 'cancels', weight < 0 ? 'cancels' : 'no weight'));
    list.append(item);
  }
  section.append(head, list);
  return section;
}

function bindDetails() {
  part('.close').addEventListener('click', () => ui.dialog.close());
  ui.dialog.addEventListener('close', () => {
    detailsRequest?.abort();
    detailsRequest = null;
    if (opener?.isConnected && !opener.parentElement.hidden) opener.focus();
    opener = null;
  });
}

// ---- keyboard and clicks on cards ----

function moveFocus(card, step) {
  let li = card?.parentElement;
  if (!li) li = ui.list.querySelector('li:not([hidden])');
  else do li = step > 0 ? li.nextElementSibling : li.previousElementSibling; while (li?.hidden);
  li?.firstElementChild.focus();
}

function bindCards() {
  ui.list.addEventListener('click', (event) => {
    const chip = event.target.closest('button.chip');
    if (chip) setEntity(chip.dataset.entity, chip.textContent);
    const details = event.target.closest('button.details');
    if (details) openDetails(details.closest('article'));
  });
  document.addEventListener('keydown', (event) => {
    if (ui.dialog.open || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (target.closest('input, select, textarea')) return;
    const card = target.closest('article.card');
    if (event.key === 'Enter' && card && card === target) {
      event.preventDefault();
      openDetails(card);
    } else if (event.key === '/') {
      event.preventDefault();
      ui.text.focus();
    } else if (['j', 'k'].includes(event.key) || (card && ['ArrowDown', 'ArrowUp'].includes(event.key))) {
      event.preventDefault();
      moveFocus(card, ['j', 'ArrowDown'].includes(event.key) ? 1 : -1);
    }
  });
}

// ---- the live stream ----

let backoff = 500;

function setConnection(state) {
  ui.connection.dataset.state = state;
  ui.connection.textContent = state;
}

function connect() {
  const source = new EventSource('/events');
  source.addEventListener('open', () => { backoff = 500; setConnection('live'); });
  source.addEventListener('ready', () => setConnection('live'));
  source.addEventListener('alert', (event) => receive(event.data));
  source.addEventListener('surge', (event) => receive(event.data, SURGE));
  source.addEventListener('error', () => {
    setConnection('reconnecting');
    // The browser retries by itself, with Last-Event-ID, unless the stream ended CLOSED
    // (an error status, a wrong content type): then a new EventSource, after a backoff.
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  });
}

async function loadConfig() {
  try {
    const response = await fetch('/api/config', { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const config = await response.json();
    for (const topic of Array.isArray(config.watched) ? config.watched : []) {
      if (typeof topic?.name !== 'string') continue;
      desk.descriptions.set(topic.name, str(topic.description));
      const option = ui.topic.options[topicIndex(topic.name) + 1];
      option.title = str(topic.description);
    }
    if (Number.isInteger(config.max_cards) && config.max_cards > 0) desk.maxCards = config.max_cards;
  } catch (error) {
    // The alerts still show; their topics fill the filter as they come.
    console.warn(`desk: no configuration (${error.message}); topics come from the alerts`);
  }
}

async function main() {
  readAddress();
  await loadConfig();
  bindFilters();
  bindCards();
  bindDetails();
  connect();
  setInterval(refreshRelativeTimes, RELATIVE_EVERY_MS);
  window.wirewatchDesk = Object.freeze({
    stats: () => ({ cards: ui.list.childElementCount, held: desk.records.length,
      queued: desk.pending.length, redraws: desk.stale.size }),
  });
}

main();
