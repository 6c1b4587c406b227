// pivotforge sandbox prelude: runs once in every fresh script context, before the user's script.
// It receives the host functions as `host`, builds the ScriptForge globals on them (console,
// require, cxKV, cxUserspace, fetch, timers, process.env, legacy vars/exit/err), then freezes
// every built-in so that one call cannot poison the next.
(function (host, env, recordingsUrl, varsJson) {
  'use strict';
  const G = globalThis;
  const EXIT = Object.freeze({ pivotforgeExit: true });

  // ---- the clock: Date follows the service's clock (a test or `run --at` may set it) --------
  const RealDate = Date;
  let clockOffset = 0;
  class PfDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + clockOffset);
      else super(...args);
    }
    static now() { return RealDate.now() + clockOffset; }
  }
  const call = { data: undefined, settle: undefined };

  // ---- console ----------------------------------------------------------------------------
  const errorFields = (e) => ({ name: e.name, message: e.message, stack: e.stack });
  const show = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) {
      const stack = v.stack ? '\n' + String(v.stack).trimEnd() : '';
      return `${v.name}: ${v.message}${stack}`;
    }
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
      return String(v);
    }
    const seen = new WeakSet();
    try {
      const text = JSON.stringify(v, (k, x) => {
        if (x instanceof Error) return errorFields(x);
        if (typeof x === 'bigint') return String(x);
        if (x !== null && typeof x === 'object') {
          if (seen.has(x)) return '[Circular]';
          seen.add(x);
        }
        return x;
      });
      return text === undefined ? String(v) : text;
    } catch (e) {
      return String(v);
    }
  };
  const logger = (level) => (...args) => host.log(level, args.map(show).join(' '));
  const console = {
    log: logger('log'), info: logger('info'), warn: logger('warn'),
    error: logger('error'), debug: logger('debug'), trace: logger('debug'),
  };

  // ---- values across the boundary (JSON text both ways) -------------------------------------
  const parse = (text) => (text === undefined || text === null ? null : JSON.parse(text));
  const asPromise = (f) => new Promise((resolve) => resolve(f()));

  // ---- cxKV ---------------------------------------------------------------------------------
  const seconds = (s, what) => {
    const n = s === undefined || s === null ? 0 : Number(s);
    if (!Number.isFinite(n) || n < 0) throw new TypeError(`${what} must be a number of seconds >= 0`);
    return n;
  };
  const cxKV = Object.freeze({
    kv: Object.freeze({
      get: (key) => asPromise(() => { const v = parse(host.kvGet(String(key))); return v === null ? null : (typeof v === 'string' ? v : JSON.stringify(v)); }),
      set: (key, value, ttl) => asPromise(() => { host.kvSet(String(key), JSON.stringify(String(value)), seconds(ttl, 'ttl')); }),
      delete: (key) => asPromise(() => host.kvDelete(String(key))),
    }),
    ko: Object.freeze({
      get: (key) => asPromise(() => parse(host.kvGet(String(key)))),
      set: (key, value, ttl) => asPromise(() => {
        const text = JSON.stringify(value);
        if (text === undefined) throw new TypeError('ko.set needs a JSON value');
        host.kvSet(String(key), text, seconds(ttl, 'ttl'));
      }),
      delete: (key) => asPromise(() => host.kvDelete(String(key))),
    }),
    incr: (key, by = 1, expireSeconds = 0) => asPromise(() => {
      const n = Number(by);
      if (!Number.isInteger(n)) throw new TypeError('incr: `by` must be an integer');
      return host.kvIncr(String(key), n, seconds(expireSeconds, 'expireSeconds'));
    }),
    keys: () => asPromise(() => parse(host.kvKeys())),
    usage: () => asPromise(() => parse(host.kvUsage())),
  });

  // ---- cxUserspace --------------------------------------------------------------------------
  const put = (area, key, data) => asPromise(() => {
    const text = JSON.stringify(data === undefined ? null : data);
    return host.usPut(String(area), String(key), text);
  });
  const cxUserspace = Object.freeze({
    create: put,
    update: put,
    read: (area, key) => asPromise(() => parse(host.usGet(String(area), String(key)))),
    delete: (area, key) => asPromise(() => host.usDelete(String(area), String(key))),
  });
  const api = Object.freeze({
    lookup: Object.freeze({
      userspaceLookup: (area, key) => asPromise(() => {
        const found = parse(host.usGet(String(area), String(key)));
        if (found === null) throw [404, 'Not Found'];
        return found;
      }),
    }),
  });

  // ---- timers -------------------------------------------------------------------------------
  const timers = new Map();
  const setTimeout = (fn, ms, ...args) => {
    if (typeof fn !== 'function') throw new TypeError('setTimeout needs a function');
    const id = host.timerAdd(Math.max(0, Number(ms) || 0));
    timers.set(id, () => fn(...args));
    return id;
  };
  const clearTimeout = (id) => { if (timers.delete(id)) host.timerClear(id); };
  const setInterval = () => { throw new Error('setInterval is not available in a call flow: use setTimeout'); };

  // ---- fetch --------------------------------------------------------------------------------
  const pendingOps = new Map();
  const makeResponse = (r) => Object.freeze({
    status: r.status,
    ok: r.status >= 200 && r.status < 300,
    statusText: r.statusText,
    url: r.url,
    headers: Object.freeze(Object.assign(Object.create(null), r.headers, {
      get: (name) => r.headers[String(name).toLowerCase()] ?? null,
    })),
    text: () => Promise.resolve(r.body),
    json: () => asPromise(() => JSON.parse(r.body)),
  });
  const fetch = (url, options = {}) => new Promise((resolve, reject) => {
    const opts = {
      method: String(options.method || 'GET').toUpperCase(),
      headers: options.headers || {},
      body: options.body === undefined || options.body === null ? null
        : (typeof options.body === 'string' ? options.body : JSON.stringify(options.body)),
    };
    const id = host.fetch(String(url), JSON.stringify(opts));
    pendingOps.set(id, { resolve: (r) => resolve(makeResponse(r)), reject });
  });

  // ---- the helper module: time and callflow builders ----------------------------------------
  const need = (cond, message) => { if (!cond) throw new TypeError(message); };
  const text = (v, what, max) => {
    need(typeof v === 'string' && v.length > 0, `${what} must be a non-empty string`);
    need(!max || v.length <= max, `${what} must be at most ${max} characters`);
    return v;
  };
  const node = (module, data = {}, children) => {
    text(module, 'module');
    need(data !== null && typeof data === 'object' && !Array.isArray(data), 'data must be an object');
    const n = { module, data: Object.assign({}, data) };
    if (children !== undefined) {
      n.children = (children && typeof children === 'object' && typeof children.module === 'string')
        ? { _: children } : Object.assign({}, children);
    }
    return n;
  };
  // The host builds pivot nodes and URLs (one place with rule flows): they carry the /pivot
  // token, if any, as does recordingsUrl the upload token: never log them.
  const pivotData = (target, opts) => parse(host.pivotData(target, JSON.stringify(Object.assign({}, opts))));
  const pivotforge = Object.freeze({
    time: (zone = 'UTC') => parse(host.time(String(zone), Date.now())),
    node,
    tts: (t, opts = {}, next) => node('tts', Object.assign({}, opts, { text: text(t, 'tts text', 1000) }), next),
    play: (id, opts = {}, next) => node('play', Object.assign({}, opts, { id: text(id, 'play id') }), next),
    device: (id, opts = {}, next) => node('device', Object.assign({}, opts, { id: text(id, 'device id') }), next),
    user: (id, opts = {}, next) => node('user', Object.assign({}, opts, { id: text(id, 'user id') }), next),
    voicemail: (id, opts = {}, next) => node('voicemail', Object.assign({}, opts, { id: text(id, 'voicemail id') }), next),
    ringGroup: (endpoints, opts = {}, next) => {
      need(Array.isArray(endpoints) && endpoints.length > 0, 'ringGroup needs a non-empty list of endpoints');
      const list = endpoints.map((e) => (typeof e === 'string' ? { endpoint_type: 'device', id: e } : Object.assign({}, e)));
      list.forEach((e) => { need(['device', 'user', 'group'].includes(e.endpoint_type), 'endpoint_type must be device, user or group'); text(e.id, 'endpoint id', 128); });
      return node('ring_group', Object.assign({}, opts, { endpoints: list }), next);
    },
    resources: (toDid, opts = {}, next) => node('resources', Object.assign({}, opts, toDid ? { to_did: String(toDid) } : {}), next),
    collectDtmf: (name = 'default', maxDigits = 1, opts = {}, next) => {
      need(Number.isInteger(maxDigits) && maxDigits >= 1, 'maxDigits must be an integer >= 1');
      return node('collect_dtmf', Object.assign({}, opts, { collection_name: text(name, 'collection name'), max_digits: maxDigits }), next);
    },
    pivot: (target, opts = {}, next) => node('pivot', pivotData(text(target, 'pivot target'), opts), next),
    recordingsUrl,
    response: (code, message = '', opts = {}) => {
      need(Number.isInteger(code) && code >= 100 && code <= 699, 'response code must be an integer from 100 to 699');
      return node('response', Object.assign({}, opts, { code, message: String(message) }));
    },
    hangup: () => node('hangup', {}),
    setCid: (name, number, next) => node('set_cid', { caller_id_name: String(name), caller_id_number: String(number) }, next),
    sendDtmf: (digits, opts = {}, next) => node('send_dtmf', Object.assign({}, opts, { digits: text(String(digits), 'digits') }), next),
    conference: (opts = {}, next) => node('conference', opts, next),
    recordCall: (action, opts = {}, next) => {
      need(action === 'start' || action === 'stop', "recordCall action must be 'start' or 'stop'");
      return node('record_call', Object.assign({}, opts, { action }), next);
    },
  });

  // ---- require / modules --------------------------------------------------------------------
  const modules = Object.freeze({ cxKV, cxUserspace, pivotforge });
  const require = (name) => {
    const m = modules[name];
    if (!m) throw new Error(`module '${name}' is not available: use cxKV, cxUserspace or pivotforge`);
    return m;
  };

  // ---- legacy API ---------------------------------------------------------------------------
  const vars = () => call.data;
  const exit = (response) => { call.settle({ ok: response }); throw EXIT; };
  const err = (failure) => { call.settle({ fail: failure }); throw EXIT; };

  // ---- results ------------------------------------------------------------------------------
  const sipCode = (c) => {
    const n = typeof c === 'string' && /^\d{3}$/.test(c) ? Number(c) : c;
    return Number.isInteger(n) && n >= 100 && n <= 699 ? n : null;
  };
  const classify = (r) => {
    if (Array.isArray(r) && r.length >= 1 && sipCode(r[0]) !== null) {
      const reason = r[1] instanceof Error ? r[1].message : (r[1] === undefined ? '' : show(r[1]));
      return { type: 'reject', code: sipCode(r[0]), reason };
    }
    if (r instanceof Error) {
      const m = /^(\d{3})\s+(.+)$/s.exec(String(r.message));
      if (m && sipCode(m[1]) !== null) return { type: 'reject', code: Number(m[1]), reason: m[2] };
      return { type: 'error', name: r.name, message: String(r.message), stack: r.stack ? String(r.stack) : '' };
    }
    return { type: 'error', name: 'NonError', message: `the script threw a non-Error value: ${show(r)}`, stack: '' };
  };
  const settle = (r) => {
    if ('ok' in r) {
      if (r.ok === undefined) return JSON.stringify({ type: 'error', name: 'Error', message: 'the function returned nothing: return a callflow node (or a value, for /run)', stack: '' });
      try {
        return JSON.stringify({ type: 'value', value: r.ok });
      } catch (e) {
        return JSON.stringify({ type: 'error', name: e.name, message: `the result is not JSON: ${e.message}`, stack: '' });
      }
    }
    return JSON.stringify(classify(r.fail));
  };
  const moduleObject = { exports: {} };
  let builtinNames = new Set();
  // Captured now: a script may replace Object.prototype.hasOwnProperty in its own context.
  const ownProperty = Object.prototype.hasOwnProperty;
  const hasOwn = (o, k) => o !== null && (typeof o === 'object' || typeof o === 'function')
    && ownProperty.call(o, k);
  // Only own members count: `exports.constructor` or `exports.toString` are Object's, and
  // `/run/flow/constructor` must not call them.
  const own = (o, k) => (hasOwn(o, k) ? o[k] : undefined);
  const userGlobal = (name) => hasOwn(G, name)
    && !builtinNames.has(name) && !String(name).startsWith('__');
  const entry = (name) => {
    const ns = G.__pf_namespace;
    const ex = moduleObject.exports;
    const candidates = [
      own(ns, name),
      own(ns && ns.default, name),
      name === 'main' && ns && ns.default,
      own(ex, name),
      name === 'main' && ex,
      own(moduleObject.export, name),
      // Only the script's own top-level functions: never a built-in (`eval`, `fetch`, …), an
      // inherited name or one of ours.
      userGlobal(name) ? G[name] : undefined,
    ];
    return candidates.find((f) => typeof f === 'function');
  };
  // Every name `entry` resolves, for the error that names what can be called.
  const functionNames = () => {
    const names = new Set();
    const add = (o) => {
      if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return;
      // A getter that throws, or a module binding not yet initialised, names nothing.
      try {
        for (const k of Object.keys(o)) {
          try { if (typeof o[k] === 'function') names.add(k); } catch (e) { /* skipped */ }
        }
      } catch (e) { /* skipped */ }
    };
    const ns = G.__pf_namespace;
    add(ns);
    add(ns && ns.default);
    add(moduleObject.exports);
    add(moduleObject.export);
    if (ns && typeof ns.default === 'function') names.add('main');
    if (typeof moduleObject.exports === 'function') names.add('main');
    for (const k of Object.getOwnPropertyNames(G)) {
      if (userGlobal(k) && typeof G[k] === 'function') names.add(k);
    }
    return [...names].sort();
  };
  // The flow's vars are parsed and frozen once per sandbox and shared by every call: a call
  // can't change what the next one sees, and no call pays for copying them.
  const deepFreeze = (v) => {
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const k of Object.keys(v)) deepFreeze(v[k]);
    }
    return v;
  };
  const flowVars = deepFreeze(JSON.parse(varsJson));
  const hasVars = Object.keys(flowVars).length > 0;
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  // varsMode: 0 leaves the argument alone, 1 sets `vars` (a call step), 2 sets it unless the
  // argument has its own (`/run`).
  const run = (name, argJson, nowMs, varsMode) => {
    clockOffset = typeof nowMs === 'number' ? nowMs - RealDate.now() : 0;
    const arg = JSON.parse(argJson);
    // The request leaves out an empty `Digits` (it keeps the exchange log small), but scripts
    // are promised an object on every call step, so `data.Digits.x` never throws.
    if (varsMode === 1 && isObject(arg) && !isObject(arg.Digits)) arg.Digits = {};
    if (hasVars && varsMode !== 0 && isObject(arg) && (varsMode === 1 || !('vars' in arg))) arg.vars = flowVars;
    call.data = arg;
    timers.clear();
    pendingOps.clear();
    // Most flows answer synchronously: settle those without any promise machinery.
    let early = null;
    call.settle = (r) => { if (early === null) early = r; };
    let out, threw = false, thrown;
    let f;
    try { f = entry(name); } catch (e) { return settle({ fail: e }); }
    if (!f) return JSON.stringify({ type: 'missing', name: String(name), functions: functionNames() });
    try {
      out = f(arg);
    } catch (e) {
      threw = true;
      thrown = e;
    }
    if (early !== null) return settle(early);
    if (threw && thrown !== EXIT) return settle({ fail: thrown });
    const thenable = out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function';
    if (!threw && out !== undefined && !thenable) return settle({ ok: out });
    // A promise, or a legacy main that calls exit()/err() later from a callback.
    let settleOnce;
    const exited = new Promise((resolve) => { settleOnce = resolve; });
    call.settle = settleOnce;
    const never = new Promise(() => {});
    const ran = (threw ? Promise.reject(thrown) : Promise.resolve(out)).then(
      (ok) => (ok === undefined ? never : { ok }),
      (fail) => (fail === EXIT ? never : { fail }),
    );
    return Promise.race([exited, ran]).then(settle);
  };
  const fire = (id) => {
    const f = timers.get(id);
    timers.delete(id);
    if (!f) return;
    try { f(); } catch (e) { if (e !== EXIT) call.settle({ fail: e }); }
  };
  const complete = (id, ok, payload) => {
    const op = pendingOps.get(id);
    pendingOps.delete(id);
    if (!op) return;
    if (ok) op.resolve(JSON.parse(payload)); else op.reject(new Error(payload));
  };

  // ---- install, then freeze -----------------------------------------------------------------
  const define = (name, value) => Object.defineProperty(G, name, { value, writable: false, enumerable: false, configurable: false });
  const process = Object.freeze({ env: Object.freeze(Object.assign({}, env)) });
  const globals = { Date: PfDate, console, require, api, fetch, setTimeout, clearTimeout, setInterval, vars, exit, err, process,
    __pf_run: run, __pf_fire: fire, __pf_complete: complete, __pf_modules: modules };
  for (const [name, value] of Object.entries(globals)) define(name, value);
  Object.defineProperty(G, 'module', { value: moduleObject, writable: false, enumerable: false, configurable: false });
  Object.defineProperty(G, 'exports', { get: () => moduleObject.exports, set: (v) => { moduleObject.exports = v; }, enumerable: false, configurable: false });

  const frozen = new Set();
  const freeze = (v) => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || frozen.has(v) || v === moduleObject) return;
    frozen.add(v);
    Object.freeze(v);
    // Prototypes and accessors too: %IteratorPrototype%, %TypedArray%.prototype and friends
    // are reachable only that way.
    freeze(Object.getPrototypeOf(v));
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (!d) continue;
      if ('value' in d) freeze(d.value);
      if (d.get) freeze(d.get);
      if (d.set) freeze(d.set);
    }
  };
  for (const name of Object.getOwnPropertyNames(G)) {
    if (name === 'globalThis' || name === 'module' || name === 'exports' || name === '__pf_namespace') continue;
    const d = Object.getOwnPropertyDescriptor(G, name);
    if (d && 'value' in d) {
      freeze(d.value);
      if (d.configurable) Object.defineProperty(G, name, { writable: false, configurable: false });
    }
  }
  freeze(Object.getPrototypeOf(async function () {}));
  freeze(Object.getPrototypeOf(function* () {}));
  freeze(Object.getPrototypeOf(async function* () {}));
  freeze(Object.getPrototypeOf([][Symbol.iterator]()));
  freeze(Object.getPrototypeOf(new Map()[Symbol.iterator]()));
  freeze(Object.getPrototypeOf(new Set()[Symbol.iterator]()));
  freeze(Object.getPrototypeOf(''[Symbol.iterator]()));
  freeze(Object.getPrototypeOf(/x/[Symbol.matchAll]('')));
  builtinNames = new Set(Reflect.ownKeys(G));
})
