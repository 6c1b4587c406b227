// The playground's whole-call mode: plays one simulated call in one go through the service's
// POST /api/call (digits and bridge outcomes in order, a chosen instant, a Kazoo version) and
// shows its transcript; "Save as scenario" downloads the call as a `pivotforge test` file from
// POST /api/call/scenario. Uses the helpers of app.js (loaded first); text only, never markup.
'use strict';

const wholeCall = {
  body: null, // what the last run sent, with the instant it ran at: what "Save" sends again
  file: null, // the last scenario file saved: {name, blob}

  init() {
    $('pg-call-run').addEventListener('click', () => this.run());
    $('pg-call-save').addEventListener('click', () => this.save());
  },

  /** The call the form describes: the playground's parameters flat, as Kazoo names them. */
  spec() {
    const params = {};
    for (const input of document.querySelectorAll('#pg-form [data-param]')) {
      // The simulator gives each call a fresh Call-ID.
      if (input.dataset.param === 'Call-ID') continue;
      if (input.value.trim() !== '') params[input.dataset.param] = input.value.trim();
    }
    for (const row of document.querySelectorAll('#pg-extra .param-row')) {
      const key = row.querySelector('.param-key').value.trim();
      if (key) params[key] = row.querySelector('.param-value').value;
    }
    const entries = (text) => (text.trim() === '' ? [] : text.split(',').map((e) => e.trim()));
    const body = {
      flow: $('pg-flow').value,
      params,
      digits: entries($('pg-call-digits').value),
      bridges: entries($('pg-call-bridges').value),
      method: $('pg-method').value === 'get' ? 'get' : 'post',
      kazoo: $('pg-call-kazoo').value,
    };
    if ($('pg-call-at').value.trim()) body.at = $('pg-call-at').value.trim();
    return body;
  },

  async run() {
    const body = this.spec();
    if (!body.flow) {
      $('pg-call-status').textContent = 'Pick a flow first (none loaded?).';
      return;
    }
    $('pg-call-status').textContent = 'playing…';
    $('pg-call-save').disabled = true;
    $('pg-call-saved').hidden = true;
    const reply = await request(api('api/call'), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (!reply.ok || !reply.body || !Array.isArray(reply.body.steps)) {
      this.body = null;
      $('pg-call-status').textContent = failure('POST /api/call', reply);
      $('pg-transcript').replaceChildren();
      return;
    }
    this.body = Object.assign({}, body, { at: reply.body.at });
    $('pg-transcript').replaceChildren(renderTranscript(reply.body));
    const n = reply.body.steps.length;
    $('pg-call-status').textContent = `${n} request${n === 1 ? '' : 's'}, ` +
      `${reply.body.ok ? 'ran to its end' : 'did not run cleanly'} (at ${reply.body.at})`;
    $('pg-call-save').disabled = false;
  },

  /** Downloads the last call as a scenario file (and keeps a link to download it again). */
  async save() {
    if (!this.body) return;
    $('pg-call-status').textContent = 'saving…';
    let response;
    try {
      response = await fetch(api('api/call/scenario'), {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(this.body),
      });
    } catch (e) {
      $('pg-call-status').textContent = `POST /api/call/scenario: the service did not answer (${e})`;
      return;
    }
    const text = await response.text();
    if (!response.ok) {
      let parsed = text;
      try { parsed = JSON.parse(text); } catch (_) { /* not JSON: keep the text */ }
      $('pg-call-status').textContent =
        failure('POST /api/call/scenario', { status: response.status, body: parsed });
      return;
    }
    const name = `${this.body.flow.replace(/[^A-Za-z0-9_-]/g, '_')}.toml`;
    const link = $('pg-call-saved');
    if (link.href) URL.revokeObjectURL(link.href);
    // Kept, so the file can be downloaded again (and read: the page's policy lets no script
    // fetch the blob: URL).
    this.file = { name, blob: new Blob([text], { type: 'application/toml' }) };
    link.href = URL.createObjectURL(this.file.blob);
    link.download = name;
    link.textContent = `Download ${name} again`;
    link.hidden = false;
    link.click();
    $('pg-call-status').textContent = `saved as ${name}: put it in callflows/tests/`;
  },
};

const STEP_OUTCOME_BADGE = { tree: 'tree', rejected: 'rejection', fallback: 'fallback', failed: 'error' };

/** A transcript (the JSON of POST /api/call): each step's request, its node lines, the end. */
function renderTranscript(t) {
  const box = el('div', { class: 'transcript', 'data-ok': t.ok ? 'true' : 'false' });
  for (const step of t.steps) {
    const outcome = step.outcome || {};
    const badge = el('span', {
      class: `badge outcome-${STEP_OUTCOME_BADGE[outcome.kind] || 'unknown'}`,
      'data-outcome': outcome.kind || '',
    }, outcomeText(outcome));
    const card = el('div', { class: 'step t-step', 'data-step': step.number },
      el('div', { class: 'step-head' },
        el('strong', { text: `Step ${step.number}` }),
        el('code', { class: 't-request', text: `${step.method} ${step.url}` }),
        badge,
        el('span', { class: 'muted', text: `${Number(step.ms).toFixed(1)} ms` }),
        step.rule ? el('span', { class: 'rule', text: `rule: ${step.rule}` }) : null));
    if (outcome.detail) card.append(el('p', { class: 'detail', text: outcome.detail }));
    if (Array.isArray(step.changed) && step.changed.length) {
      card.append(el('details', { class: 'request' },
        el('summary', { text: step.number === 1 ? 'Parameters' : 'Parameters that changed' }),
        el('table', { class: 'kv' }, step.changed.map(([k, v]) =>
          el('tr', {}, el('th', { text: k }), el('td', { text: v }))))));
    }
    card.append(el('ol', { class: 'node-lines' }, (step.nodes || []).map((n) =>
      el('li', { 'data-module': n.module, text: n.line }))));
    if (Array.isArray(step.logs) && step.logs.length) {
      card.append(el('ul', { class: 'logs' }, step.logs.map((l) => el('li', { text: l }))));
    }
    box.append(card);
  }
  box.append(el('p', { class: `t-end ${t.ok ? '' : 'error'}`, 'data-end': (t.end && t.end.kind) || '' },
    `Ended: ${endText(t.end)}${t.ok ? '' : ' — not a clean call'}`));
  return box;
}

function outcomeText(o) {
  switch (o.kind) {
    case 'tree': return 'tree';
    case 'rejected': return `rejected ${o.code} ${o.message || ''}`.trim();
    case 'fallback': return `fallback (${o.failure})`;
    case 'failed': return o.status ? `failed (HTTP ${o.status})` : 'failed';
    default: return o.kind || '?';
  }
}

function endText(end) {
  if (!end) return '?';
  if (end.kind === 'terminal') return `at a ${end.module} node`;
  if (end.kind === 'end_of_tree') return 'at the end of a tree (Kazoo hangs up)';
  return `hung up: ${end.reason}`;
}

wholeCall.init();
