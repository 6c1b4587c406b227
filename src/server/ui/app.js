// The pivotforge web console: three hash-addressed tabs (#calls, #flows, #recordings) over the
// service's own JSON endpoints. Plain DOM, no framework and no build step, so the binary can
// serve it as it is. Every piece of data goes into the page as text (textContent or an
// attribute), never as markup: call parameters and script logs come from callers.
'use strict';

// The page lives at <root>/ui/; the API is beside it. Relative, so a proxy prefix still works.
const ROOT = new URL('..', document.baseURI).pathname;
const POLL_MS = 2000;

// ---- small helpers ---------------------------------------------------------------------------

/** An element with attributes (class, data-*, any other) and children (nodes or text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function $(id) {
  return document.getElementById(id);
}

function api(path) {
  return ROOT + path;
}

/** GET/POST and read the body as JSON when it is JSON; never throws. */
async function request(url, init) {
  try {
    const response = await fetch(url, Object.assign({ credentials: 'same-origin' }, init));
    const text = await response.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      // Not JSON: keep the text.
    }
    return { ok: response.ok, status: response.status, body };
  } catch (e) {
    return { ok: false, status: 0, body: { error: 'network error', detail: String(e) } };
  }
}

/** A sentence for a failed request: what answered and why, from the JSON error body. */
function failure(what, reply) {
  if (reply.status === 0) return `${what}: the service did not answer (${reply.body.detail})`;
  const body = reply.body || {};
  const why = body.detail || body.error || (typeof body === 'string' ? body.slice(0, 200) : '');
  return `${what} answered ${reply.status}${why ? ': ' + why : ''}`;
}

function fmtTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toLocaleString();
}

function truncate(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

function outcomeBadge(outcome) {
  return el('span', { class: `badge outcome-${outcome || 'unknown'}`, 'data-outcome': outcome || '' },
    outcome || '?');
}

// ---- callflow trees as nested blocks ---------------------------------------------------------

// Fields shown first when a node has them: what a person looks for at a glance.
const KEY_FIELDS = ['text', 'id', 'name', 'voice_url', 'flow', 'code', 'message', 'action',
  'collection_name', 'max_digits', 'endpoints', 'to_did', 'digits', 'url', 'language',
  'strategy', 'timeout', 'duration', 'presence_id', 'status'];

function summarize(key, value) {
  if (Array.isArray(value)) {
    if (key === 'endpoints') {
      const listed = value.slice(0, 3).map((e) =>
        `${(e && e.endpoint_type) || '?'} ${truncate(String((e && e.id) || '?'), 12)}`);
      return `${value.length} endpoint${value.length === 1 ? '' : 's'}: ${listed.join(', ')}` +
        (value.length > 3 ? ', …' : '');
    }
    return `${value.length} item${value.length === 1 ? '' : 's'}: ${truncate(JSON.stringify(value), 80)}`;
  }
  if (value !== null && typeof value === 'object') return truncate(JSON.stringify(value), 80);
  return String(value);
}

function escapePointer(key) {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** One node (and its branches, recursively) as a box; `branch` is its key in the parent. */
function renderTree(node, branch, pointer, depth) {
  pointer = pointer || '';
  depth = depth || 0;
  // Kazoo's `_` is the branch taken when no other key matches: say so, an underscore alone is
  // easy to miss.
  const shown = branch === '_' ? '_ (default)' : branch;
  const label = branch === undefined ? null : el('span', { class: 'branch-key', text: shown });
  if (node === null || typeof node !== 'object' || Array.isArray(node) || depth > 64) {
    return el('div', { class: 'node node-invalid', 'data-pointer': pointer },
      el('div', { class: 'node-head' }, label, el('span', { class: 'module', text: 'not a node' })),
      el('pre', { text: truncate(JSON.stringify(node), 400) }));
  }
  const module = typeof node.module === 'string' ? node.module : '(no module)';
  const box = el('div', { class: 'node', 'data-module': module, 'data-pointer': pointer },
    el('div', { class: 'node-head' }, label, el('span', { class: 'module', text: module })));
  const data = node.data && typeof node.data === 'object' ? node.data : {};
  const keys = Object.keys(data).sort((a, b) => {
    const ia = KEY_FIELDS.indexOf(a);
    const ib = KEY_FIELDS.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  if (keys.length) {
    const fields = el('dl', { class: 'fields' });
    for (const key of keys) {
      const full = summarize(key, data[key]);
      fields.append(el('dt', { text: key }),
        el('dd', { 'data-field': key, title: full.length > 120 ? full : null, text: truncate(full, 120) }));
    }
    box.append(fields);
  }
  const children = node.children && typeof node.children === 'object' ? node.children : {};
  const branches = Object.keys(children);
  if (branches.length) {
    const holder = el('div', { class: 'children' });
    for (const key of branches) {
      holder.append(el('div', { class: 'branch', 'data-branch': key },
        renderTree(children[key], key, `${pointer}/children/${escapePointer(key)}`, depth + 1)));
    }
    box.append(holder);
  }
  return box;
}

function looksLikeNode(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) &&
    typeof value.module === 'string';
}

/** The reply: a tree as blocks, anything else (an error body) as JSON text. */
function renderReply(reply) {
  if (looksLikeNode(reply)) return el('div', { class: 'tree' }, renderTree(reply));
  if (reply === null || reply === undefined) {
    return el('p', { class: 'no-tree muted',
      text: 'No tree was sent: the PBX runs the pivot node’s “_” branch.' });
  }
  // A reply the exchange log cut is the start of its JSON text.
  if (typeof reply === 'string') return el('pre', { class: 'reply-json', text: reply });
  return el('pre', { class: 'reply-json', text: JSON.stringify(reply, null, 2) });
}

function renderErrors(errors) {
  if (!Array.isArray(errors) || !errors.length) return null;
  return el('ul', { class: 'errors schema-errors' }, errors.map((e) =>
    el('li', {}, el('code', { text: (e && e.pointer) || '/' }), ' ',
      (e && e.message) || JSON.stringify(e))));
}

function renderLogs(logs) {
  if (!Array.isArray(logs) || !logs.length) return null;
  return el('ul', { class: 'logs' }, logs.map((line) =>
    el('li', { 'data-level': (line && line.level) || '' },
      el('span', { class: 'log-ts', text: fmtTime(line && line.ts) }),
      el('span', { class: 'log-level', text: (line && line.level) || '' }),
      el('span', { class: 'log-message', text: (line && line.message) || '' }))));
}

function renderTimings(t) {
  if (!t || typeof t !== 'object') return null;
  const parts = ['parse', 'run', 'validate', 'total']
    .filter((k) => t[`${k}_us`] !== undefined)
    .map((k) => `${k} ${t[`${k}_us`]} µs`);
  return parts.length ? el('p', { class: 'timings muted', text: parts.join(' · ') }) : null;
}

/** A request's parameters as a key/value table, folded away by default. */
function renderRequest(requestData) {
  if (requestData === undefined || requestData === null) return null;
  const rows = [];
  if (typeof requestData === 'object' && !Array.isArray(requestData)) {
    for (const [key, value] of Object.entries(requestData)) {
      rows.push(el('tr', {}, el('th', { text: key }),
        el('td', { text: typeof value === 'string' ? value : JSON.stringify(value) })));
    }
  }
  return el('details', { class: 'request' }, el('summary', { text: 'Request' }),
    rows.length ? el('table', { class: 'kv' }, rows)
      : el('pre', { text: JSON.stringify(requestData, null, 2) }));
}

/** One step of the exchange log (`GET /calls/{id}`), as the Calls tab and playground show it. */
function renderStep(step) {
  const card = el('div', { class: 'step', 'data-step': step.step, 'data-outcome': step.outcome || '' });
  card.append(el('div', { class: 'step-head' },
    el('strong', { text: `Step ${step.step}` }),
    el('span', { class: 'muted', text: fmtTime(step.at) }),
    el('span', { text: step.flow ? `/pivot/${step.flow}` : '' }),
    step.version ? el('span', { class: 'muted', text: `version ${step.version}` }) : null,
    outcomeBadge(step.outcome),
    el('span', { class: 'http-status', text: `HTTP ${step.status}` }),
    step.rule ? el('span', { class: 'rule', text: `rule: ${step.rule}` }) : null));
  if (step.detail) card.append(el('p', { class: 'detail', text: step.detail }));
  if (Array.isArray(step.truncated) && step.truncated.length) {
    card.append(el('p', { class: 'muted truncated',
      text: `Kept cut to 64 KiB: ${step.truncated.join(', ')}` }));
  }
  card.append(
    renderTimings(step.timings) || '',
    renderRequest(step.request) || '',
    el('h4', { text: 'Reply' }), renderReply(step.reply));
  const errors = renderErrors(step.errors);
  if (errors) card.append(el('h4', { text: 'Validation errors' }), errors);
  const logs = renderLogs(step.logs);
  card.append(el('h4', { text: 'Logs' }), logs || el('p', { class: 'muted', text: 'no log lines' }));
  return card;
}

// ---- tabs ------------------------------------------------------------------------------------

const TABS = ['calls', 'flows', 'recordings'];

function route() {
  const hash = location.hash.replace(/^#/, '');
  const [tab, ...rest] = hash.split('/');
  const name = TABS.includes(tab) ? tab : 'calls';
  for (const t of TABS) {
    $(`panel-${t}`).hidden = t !== name;
    const link = $(`tab-link-${t}`);
    if (t === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.body.dataset.tab = name;
  if (name === 'calls') {
    calls.start();
    let id = null;
    try {
      id = rest.length ? decodeURIComponent(rest.join('/')) : null;
    } catch (_) {
      $('calls-status').textContent = 'The address names no call (a bad % escape after #calls/).';
    }
    if (id !== null) calls.open(id);
  } else {
    calls.stop();
  }
  if (name === 'flows') flows.load();
  if (name === 'recordings') recordings.load();
}

// ---- Calls -----------------------------------------------------------------------------------

const calls = {
  timer: null,
  busy: false,
  shown: null, // signature of the listed calls, to redraw only on change
  openId: null,
  openSig: null,

  start() {
    if (this.timer) return;
    this.refresh();
    this.timer = setInterval(() => {
      if ($('calls-live').checked && !document.hidden) this.refresh();
    }, POLL_MS);
  },

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  },

  async refresh() {
    if (this.busy) return;
    this.busy = true;
    try {
      const query = new URLSearchParams({ limit: '100' });
      if ($('calls-flow').value.trim()) query.set('flow', $('calls-flow').value.trim());
      if ($('calls-outcome').value) query.set('outcome', $('calls-outcome').value);
      const reply = await request(api(`calls?${query}`));
      if (!reply.ok) {
        $('calls-status').textContent = reply.status === 404
          ? 'The exchange log (GET /calls) is not available on this server.'
          : failure('GET /calls', reply);
        return;
      }
      const list = (reply.body && Array.isArray(reply.body.calls)) ? reply.body.calls : [];
      const sig = JSON.stringify(list);
      if (sig !== this.shown) {
        this.shown = sig;
        this.draw(list);
      }
      $('calls-status').textContent = `updated ${new Date().toLocaleTimeString()}`;
      if (this.openId !== null) {
        const row = list.find((c) => c.call_id === this.openId);
        const rowSig = row ? `${row.steps}|${row.last_at}` : null;
        if (row && rowSig !== this.openSig) await this.open(this.openId);
      }
    } finally {
      this.busy = false;
    }
  },

  draw(list) {
    const body = $('calls-body');
    body.replaceChildren(...list.map((c) => el('tr', {
      'data-call-id': c.call_id,
      class: c.call_id === this.openId ? 'selected' : null,
      tabindex: 0,
    },
    el('td', {}, el('code', { text: c.call_id || '(no Call-ID)' })),
    el('td', { text: c.flow || '' }),
    el('td', { class: 'num', text: c.steps }),
    el('td', {}, outcomeBadge(c.outcome)),
    el('td', { class: 'num', text: c.status }),
    el('td', { text: fmtTime(c.first_at) }),
    el('td', { text: fmtTime(c.last_at) }))));
    $('calls-empty').hidden = list.length > 0;
  },

  select(id) {
    // Through the hash, so a call can be linked to and the back button works.
    location.hash = `calls/${encodeURIComponent(id)}`;
  },

  async open(id) {
    this.openId = id;
    for (const row of $('calls-body').children) {
      row.classList.toggle('selected', row.dataset.callId === id);
    }
    const reply = await request(api(`calls/${encodeURIComponent(id)}`));
    if (this.openId !== id) return; // another call was opened meanwhile
    const detail = $('call-detail');
    detail.hidden = false;
    $('call-detail-id').textContent = id;
    $('call-save').href = api(`calls/${encodeURIComponent(id)}/scenario`);
    const steps = $('call-steps');
    if (!reply.ok) {
      steps.replaceChildren(el('p', { class: 'error', text: failure(`GET /calls/${id}`, reply) }));
      return;
    }
    const list = (reply.body && Array.isArray(reply.body.steps)) ? reply.body.steps : [];
    steps.replaceChildren(...list.map(renderStep));
    // Remember how the listing showed this call, so a poll redraws it only when it moved on.
    const row = JSON.parse(this.shown || '[]').find((c) => c.call_id === id);
    this.openSig = row ? `${row.steps}|${row.last_at}` : null;
  },
};

// ---- Flows and the playground ----------------------------------------------------------------

const flows = {
  async load() {
    const reply = await request(api('flows'));
    if (!reply.ok) {
      $('flows-status').textContent = failure('GET /flows', reply);
      return;
    }
    const list = Array.isArray(reply.body.flows) ? reply.body.flows : [];
    const errors = Array.isArray(reply.body.errors) ? reply.body.errors : [];
    const broken = list.filter((f) => f.error).length;
    const tripped = list.filter((f) => f.breaker && f.breaker !== 'closed').length;
    $('flows-status').textContent = `${list.length} flow${list.length === 1 ? '' : 's'}` +
      (broken ? `, ${broken} with a load error` : '') +
      (tripped ? `, ${tripped} with an open circuit breaker` : '') +
      (errors.length ? `, ${errors.length} other file${errors.length === 1 ? '' : 's'} not loaded` : '');
    $('flows-body').replaceChildren(...list.map((f) => el('tr', {
      'data-flow': f.name, class: f.error ? 'broken' : null,
    },
    el('td', {}, el('code', { text: f.name })),
    el('td', { text: f.kind }),
    el('td', {}, el('code', { text: f.version || '—' })),
    el('td', {}, ...breakerCells(f)),
    el('td', { text: f.file }),
    el('td', { class: 'error', text: f.error || '' }))));
    $('flows-errors').replaceChildren(...errors.map((e) =>
      el('li', {}, el('code', { text: e.line ? `${e.file}:${e.line}` : e.file }), ' ', e.message)));
    const select = $('pg-flow');
    const chosen = select.value;
    select.replaceChildren(...list.map((f) =>
      el('option', { value: f.name, text: f.error ? `${f.name} (not loaded)` : f.name })));
    if (list.some((f) => f.name === chosen)) select.value = chosen;
  },
};

/** A script flow's circuit breaker and bulkhead as badges; a dash for rule flows. */
function breakerCells(f) {
  if (typeof f.breaker !== 'string') return ['—'];
  const badges = [el('span', {
    class: `badge breaker-${f.breaker}`, 'data-breaker': f.breaker,
    title: f.breaker === 'closed' ? 'calls run' : 'calls answer the fallback at once',
  }, f.breaker.replace('_', '-'))];
  if (f.slow) {
    badges.push(' ', el('span', {
      class: 'badge flow-slow', title: 'calls run long: held to its share of the JS threads',
    }, 'slow'));
  }
  if (f.in_flight) badges.push(' ', el('span', { class: 'muted', text: `${f.in_flight} in flight` }));
  return badges;
}

/** `a[b][c]` → ['a', 'b', 'c']: Kazoo's bracket keys, for nesting a JSON body. */
function keyPath(key) {
  const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!match) return [key];
  const rest = match[2] ? match[2].slice(1, -1).split('][') : [];
  return [match[1], ...rest];
}

function setParam(params, key, value) {
  const path = keyPath(key);
  let at = params;
  for (const part of path.slice(0, -1)) {
    if (at[part] === null || typeof at[part] !== 'object') at[part] = {};
    at = at[part];
  }
  at[path[path.length - 1]] = value;
}

/** Kazoo's form encoding: values escaped, keys kept with their brackets, objects as `a[b]=v`. */
function toForm(params, prefix, out) {
  out = out || [];
  for (const [key, value] of Object.entries(params)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (value !== null && typeof value === 'object') toForm(value, name, out);
    else out.push(`${encodeURIComponent(name).replace(/%5B/gi, '[').replace(/%5D/gi, ']')}=` +
      encodeURIComponent(String(value)));
  }
  return out.join('&');
}

function newCallId() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  // An `@` as in Kazoo's Call-IDs, so its escaping is exercised on every run.
  return `pg-${hex}@console.pivotforge`;
}

/** The first node of `module` in a tree (depth first), or null. */
function findModule(node, modules, depth) {
  depth = depth || 0;
  if (!looksLikeNode(node) || depth > 64) return null;
  if (modules.includes(node.module)) return node;
  const children = node.children && typeof node.children === 'object' ? node.children : {};
  for (const child of Object.values(children)) {
    const found = findModule(child, modules, depth + 1);
    if (found) return found;
  }
  return null;
}

const playground = {
  callIdTyped: false,
  params: null, // the simulated call's parameters, kept across its steps
  next: null, // where the last tree pivots to: {path, method, collect}
  count: 0,

  init() {
    $('pg-call-id').value = newCallId();
    $('pg-call-id').addEventListener('input', () => { this.callIdTyped = true; });
    $('pg-new-call').addEventListener('click', () => {
      $('pg-call-id').value = newCallId();
      this.callIdTyped = false;
    });
    $('pg-add-param').addEventListener('click', () => this.addRow('', ''));
    $('pg-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.run();
    });
    $('pg-next').addEventListener('submit', (event) => {
      event.preventDefault();
      this.step();
    });
  },

  addRow(key, value) {
    const row = el('div', { class: 'param-row' },
      el('input', { class: 'param-key', placeholder: 'name, e.g. Custom-SIP-Headers[X-Test]', value: key }),
      el('input', { class: 'param-value', placeholder: 'value', value }),
      el('button', { type: 'button', class: 'param-remove', onclick: () => row.remove() }, 'Remove'));
    $('pg-extra').append(row);
    return row;
  },

  collectParams() {
    const params = {};
    for (const input of document.querySelectorAll('#pg-form [data-param]')) {
      if (input.value.trim() !== '') setParam(params, input.dataset.param, input.value.trim());
    }
    for (const row of document.querySelectorAll('#pg-extra .param-row')) {
      const key = row.querySelector('.param-key').value.trim();
      if (key) setParam(params, key, row.querySelector('.param-value').value);
    }
    const digits = $('pg-digits').value.trim();
    if (digits) {
      setParam(params, `Digits[${$('pg-digits-name').value.trim() || 'default'}]`, digits);
    }
    return params;
  },

  /** Starts a simulated call at the chosen flow. */
  async run() {
    const flow = $('pg-flow').value;
    if (!flow) {
      $('pg-status').textContent = 'Pick a flow first (none loaded?).';
      return;
    }
    if (!this.callIdTyped || !$('pg-call-id').value.trim()) $('pg-call-id').value = newCallId();
    this.params = this.collectParams();
    this.count = 0;
    $('pg-steps').replaceChildren();
    const method = $('pg-method').value;
    await this.send(`${ROOT}pivot/${flow.split('/').map(encodeURIComponent).join('/')}`,
      method === 'get' ? 'get' : 'post', method === 'json' ? 'json' : 'form');
  },

  /** The next step of the simulated call: where the last tree's pivot node points. */
  async step() {
    if (!this.next) return;
    const digits = $('pg-next-digits').value.trim();
    if (this.next.collect && digits) {
      // Kazoo keeps every collection for the rest of the call.
      setParam(this.params, `Digits[${this.next.collect}]`, digits);
    }
    $('pg-next-digits').value = '';
    await this.send(this.next.path, this.next.method, this.next.format);
  },

  async send(path, method, format) {
    const form = toForm(this.params);
    let url = path;
    let init = { method: 'GET' };
    if (method === 'get') {
      url += (url.includes('?') ? '&' : '?') + form;
    } else if (format === 'json') {
      init = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(this.params) };
    } else {
      init = { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form };
    }
    $('pg-status').textContent = 'running…';
    $('pg-next').hidden = true;
    const reply = await request(url, init);
    this.count += 1;
    const callId = this.params['Call-ID'] || '';
    const exchange = callId ? await request(api(`calls/${encodeURIComponent(callId)}`)) : null;
    const card = this.renderResult(this.count, init.method, path, reply, exchange);
    $('pg-steps').append(card);
    $('pg-status').textContent = reply.status === 0 ? failure(path, reply) : `step ${this.count}: HTTP ${reply.status}`;
    this.offerNext(reply);
  },

  renderResult(n, method, path, reply, exchange) {
    const tree = reply.ok && looksLikeNode(reply.body);
    const card = el('div', {
      class: 'pg-step', 'data-step-index': n, 'data-http-status': reply.status,
    });
    card.append(el('div', { class: 'step-head' },
      el('strong', { text: `Step ${n}` }),
      el('code', { text: `${method} ${path}` }),
      el('span', { class: 'http-status', text: `HTTP ${reply.status}` }),
      this.digitsSent()));
    card.append(el('h4', { text: tree ? 'Tree' : 'Reply' }), renderReply(reply.body));
    // What the exchange log recorded for this step: outcome, validation, logs, timings.
    const info = el('div', { class: 'pg-exchange' });
    const steps = exchange && exchange.ok && exchange.body && Array.isArray(exchange.body.steps)
      ? exchange.body.steps : null;
    const step = steps && steps.length ? steps[steps.length - 1] : null;
    if (!step) {
      // Without the log, the error body still names what was wrong.
      info.append(renderErrors(reply.body && reply.body.errors) || '');
      info.append(el('p', { class: 'muted pg-no-log', text: exchange
        ? `No exchange log for this step (${failure('GET /calls', exchange)}).`
        : 'No Call-ID, so no exchange log for this step.' }));
    } else {
      const valid = step.outcome === 'tree' || step.outcome === 'rejection';
      info.append(el('p', { class: 'validation' },
        outcomeBadge(step.outcome), ' ',
        el('span', { 'data-valid': valid ? 'true' : 'false',
          text: valid ? 'valid tree' : (step.detail || 'the flow did not give a valid tree') }),
        step.rule ? ` · rule: ${step.rule}` : ''));
      const errors = renderErrors(step.errors);
      if (errors) info.append(el('h4', { text: 'Validation errors' }), errors);
      info.append(renderTimings(step.timings) || '');
      const logs = renderLogs(step.logs);
      info.append(el('h4', { text: 'Logs' }), logs || el('p', { class: 'muted', text: 'no log lines' }));
      info.append(el('p', {}, el('a', {
        href: `#calls/${encodeURIComponent(this.params['Call-ID'])}`, class: 'open-call',
      }, 'Open this call in the Calls tab')));
    }
    card.append(info);
    return card;
  },

  /** The collected digits the step carried, as Kazoo sends them on every later step. */
  digitsSent() {
    const digits = this.params.Digits;
    if (digits === null || typeof digits !== 'object' || !Object.keys(digits).length) return null;
    return el('span', { class: 'digits muted',
      text: `Digits: ${Object.entries(digits).map(([k, v]) => `${k}=${v}`).join(', ')}` });
  },

  /** When the tree pivots again, offers the next step (asking for digits if it collects). */
  offerNext(reply) {
    this.next = null;
    const pivot = reply.ok ? findModule(reply.body, ['pivot']) : null;
    const target = pivot && pivot.data && (pivot.data.voice_url || pivot.data.flow);
    if (!target) return;
    let path;
    try {
      const url = new URL(String(target), location.href);
      path = pivot.data.voice_url ? url.pathname + url.search : `${ROOT}pivot/${pivot.data.flow}`;
    } catch (_) {
      return;
    }
    const method = String(pivot.data.method || 'get').toLowerCase() === 'post' ? 'post' : 'get';
    const format = String(pivot.data.req_body_format || 'form').toLowerCase() === 'json' ? 'json' : 'form';
    const collector = findModule(reply.body, ['collect_dtmf', 'menu']);
    const collect = collector
      ? (collector.module === 'collect_dtmf'
        ? ((collector.data && collector.data.collection_name) || 'default') : 'default')
      : null;
    this.next = { path, method, format, collect };
    $('pg-next-what').textContent = `The tree pivots to ${path} (${method.toUpperCase()}` +
      `${method === 'post' ? ' ' + format : ''}).` +
      (collect ? ` It collects digits first, into “${collect}”: enter what the caller presses.` : '');
    $('pg-next-digits-label').hidden = !collect;
    $('pg-next').hidden = false;
  },
};

// ---- Recordings ------------------------------------------------------------------------------

const recordings = {
  async load() {
    const query = new URLSearchParams({ limit: '100' });
    if ($('rec-call-id').value.trim()) query.set('call_id', $('rec-call-id').value.trim());
    if ($('rec-account-id').value.trim()) query.set('account_id', $('rec-account-id').value.trim());
    const reply = await request(api(`recordings?${query}`));
    if (!reply.ok) {
      $('rec-status').textContent = failure('GET /recordings', reply);
      $('rec-list').replaceChildren();
      return;
    }
    const list = Array.isArray(reply.body.recordings) ? reply.body.recordings : [];
    $('rec-status').textContent = `${list.length} recording${list.length === 1 ? '' : 's'}`;
    $('rec-list').replaceChildren(...list.map((r) => this.item(r)));
  },

  item(r) {
    const audio = api(`recordings/${encodeURIComponent(r.id)}/audio`);
    const seconds = typeof r.duration_ms === 'number' ? `${(r.duration_ms / 1000).toFixed(1)} s` : '';
    return el('div', { class: 'recording', 'data-recording-id': r.id },
      el('div', { class: 'rec-meta' },
        el('code', { class: 'rec-call', text: r.call_id || '(no Call-ID)' }),
        el('span', { text: [r.from, r.to].filter(Boolean).join(' → ') }),
        el('span', { text: [r.caller_id_name, r.caller_id_number].filter(Boolean).join(' ') }),
        el('span', { class: 'muted', text: fmtTime(r.received_at) }),
        el('span', { text: seconds }),
        el('span', { class: 'muted', text: `${r.format || ''} ${r.size || 0} bytes` }),
        r.format_ok === false
          ? el('span', { class: 'error', text: 'the file does not look like its format' }) : null),
      el('audio', { controls: true, preload: 'none', src: audio }),
      el('a', { class: 'download', href: audio, download: '' }, 'Download'));
  },
};

// ---- start -----------------------------------------------------------------------------------

function init() {
  $('calls-body').addEventListener('click', (event) => {
    const row = event.target.closest('tr[data-call-id]');
    if (row) calls.select(row.dataset.callId);
  });
  $('calls-body').addEventListener('keydown', (event) => {
    const row = event.target.closest('tr[data-call-id]');
    if (row && event.key === 'Enter') calls.select(row.dataset.callId);
  });
  $('calls-filter').addEventListener('submit', (event) => event.preventDefault());
  $('calls-filter').addEventListener('change', () => calls.refresh());
  $('rec-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    recordings.load();
  });
  playground.init();
  window.addEventListener('hashchange', route);
  route();
  // The playground needs the flow list even before the Flows tab is opened.
  if (document.body.dataset.tab !== 'flows') flows.load();
  document.body.dataset.ready = 'true';
}

init();
