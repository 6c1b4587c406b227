// pivotforge sandbox prelude: runs once in every fresh script context, before the user's script.
// It receives the host functions as `host` and builds the ScriptForge globals on them (console,
// require, cxKV, cxUserspace, fetch, timers, process.env, legacy vars/exit/err). The standard
// built-ins stay as the language defines them (a flow's own calls may change them in its own
// runtime); only what the host owns is frozen, and the hooks the host calls use built-ins captured
// here, so a script that replaces `JSON.stringify` or `Array.prototype.find` breaks at most its
// own results, never the host's checks.
(function (host, env, recordingsUrl, varsJson, buildersJson, makeCtx) {
  'use strict';
  const G = globalThis;
  const EXIT = Object.freeze({ pivotforgeExit: true });
  const { apply, construct, defineProperty } = Reflect;
  const { parse: jsonParse, stringify: jsonStringify } = JSON;
  const { freeze, keys: objectKeys, getOwnPropertyNames } = Object;
  const isArray = Array.isArray;
  const PromiseCtor = Promise;
  const promiseThen = Promise.prototype.then;
  const setHas = Set.prototype.has;
  const setAdd = Set.prototype.add;

  // ---- the clock: Date follows the service's clock (a test or `run --at` may set it) --------
  // A proxy of the original keeps everything else standard: `Date()` without `new`, length 7,
  // name "Date", own statics, the original prototype, subclassing and `Reflect.construct`.
  const RealDate = Date;
  const realNow = RealDate.now;
  const dateToString = RealDate.prototype.toString;
  let clockOffset = 0;
  const liveNow = () => apply(realNow, RealDate, []) + clockOffset;
  // A Class 5 step (`makeCtx` given) reads the clock and Math.random through the host's effects
  // boundary: recorded on the step that first asked, given back on every replay.
  const effect = (kind, live) => jsonParse(host.effect(kind, jsonStringify(live)));
  const serviceNow = makeCtx ? () => effect('now', liveNow()) : liveNow;
  if (makeCtx) {
    const realRandom = Math.random;
    defineProperty(Math, 'random', { value: { random() { return effect('random', apply(realRandom, Math, [])); } }.random, writable: true, configurable: true });
  }
  const ServiceDate = new Proxy(RealDate, {
    apply: () => apply(dateToString, construct(RealDate, [serviceNow()]), []),
    construct: (target, args, newTarget) => construct(target, args.length === 0 ? [serviceNow()] : args, newTarget),
  });
  // A method, not an arrow or a function: built-in statics are named and never constructors.
  defineProperty(RealDate, 'now', { value: { now() { return serviceNow(); } }.now });
  defineProperty(RealDate.prototype, 'constructor', { value: ServiceDate });
  defineProperty(G, 'Date', { value: ServiceDate });
  const call = { data: undefined, settle: undefined, idle: null };

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
      const text = jsonStringify(v, (k, x) => {
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
  // A loop, not `args.map`: the script may have replaced Array.prototype.map.
  const logger = (level) => (...args) => {
    let line = '';
    for (let i = 0; i < args.length; i += 1) line += (i > 0 ? ' ' : '') + show(args[i]);
    host.log(level, line);
  };
  const console = {
    log: logger('log'), info: logger('info'), warn: logger('warn'),
    error: logger('error'), debug: logger('debug'), trace: logger('debug'),
  };

  // ---- values across the boundary (JSON text both ways) -------------------------------------
  const parse = (text) => (text === undefined || text === null ? null : jsonParse(text));
  const asPromise = (f) => new PromiseCtor((resolve) => resolve(f()));

  // ---- cxKV ---------------------------------------------------------------------------------
  const seconds = (s, what) => {
    const n = s === undefined || s === null ? 0 : Number(s);
    if (!Number.isFinite(n) || n < 0) throw new TypeError(`${what} must be a number of seconds >= 0`);
    return n;
  };
  const cxKV = freeze({
    kv: freeze({
      get: (key) => asPromise(() => { const v = parse(host.kvGet(String(key))); return v === null ? null : (typeof v === 'string' ? v : jsonStringify(v)); }),
      set: (key, value, ttl) => asPromise(() => { host.kvSet(String(key), jsonStringify(String(value)), seconds(ttl, 'ttl')); }),
      delete: (key) => asPromise(() => host.kvDelete(String(key))),
    }),
    ko: freeze({
      get: (key) => asPromise(() => parse(host.kvGet(String(key)))),
      set: (key, value, ttl) => asPromise(() => {
        const text = jsonStringify(value);
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
    const text = jsonStringify(data === undefined ? null : data);
    return host.usPut(String(area), String(key), text);
  });
  const cxUserspace = freeze({
    create: put,
    update: put,
    read: (area, key) => asPromise(() => parse(host.usGet(String(area), String(key)))),
    delete: (area, key) => asPromise(() => host.usDelete(String(area), String(key))),
  });
  const api = freeze({
    lookup: freeze({
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
  const makeResponse = (r) => freeze({
    status: r.status,
    ok: r.status >= 200 && r.status < 300,
    statusText: r.statusText,
    url: r.url,
    headers: freeze(Object.assign(Object.create(null), r.headers, {
      get: (name) => r.headers[String(name).toLowerCase()] ?? null,
    })),
    text: () => asPromise(() => r.body),
    json: () => asPromise(() => jsonParse(r.body)),
  });
  const fetch = (url, options = {}) => new PromiseCtor((resolve, reject) => {
    const opts = {
      method: String(options.method || 'GET').toUpperCase(),
      headers: options.headers || {},
      body: options.body === undefined || options.body === null ? null
        : (typeof options.body === 'string' ? options.body : jsonStringify(options.body)),
    };
    const id = host.fetch(String(url), jsonStringify(opts));
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
  // The host builds pivot nodes and URLs (one place with rule flows, so a target gives the same
  // node and a target a rule refuses throws here): they carry the /pivot token, if any, as does
  // recordingsUrl the upload token: never log them.
  const pivotData = (target, opts) => {
    const copy = {};
    if (opts !== null && typeof opts === 'object') {
      const names = objectKeys(opts);
      for (let i = 0; i < names.length; i += 1) copy[names[i]] = opts[names[i]];
    }
    return parse(host.pivotData(target, jsonStringify(copy)));
  };
  // Builders whose arguments need checks of their own; the module registry
  // (src/callflow/mod.rs) lists them as `special`, and each gets its module's name.
  const special = {
    ringGroup: (module) => (endpoints, opts = {}, next) => {
      need(Array.isArray(endpoints) && endpoints.length > 0, 'ringGroup needs a non-empty list of endpoints');
      const list = endpoints.map((e) => (typeof e === 'string' ? { endpoint_type: 'device', id: e } : Object.assign({}, e)));
      list.forEach((e) => { need(['device', 'user', 'group'].includes(e.endpoint_type), 'endpoint_type must be device, user or group'); text(e.id, 'endpoint id', 128); });
      return node(module, Object.assign({}, opts, { endpoints: list }), next);
    },
    resources: (module) => (toDid, opts = {}, next) => node(module, Object.assign({}, opts, toDid ? { to_did: String(toDid) } : {}), next),
    collectDtmf: (module) => (name = 'default', maxDigits = 1, opts = {}, next) => {
      need(Number.isInteger(maxDigits) && maxDigits >= 1, 'maxDigits must be an integer >= 1');
      return node(module, Object.assign({}, opts, { collection_name: text(name, 'collection name'), max_digits: maxDigits }), next);
    },
    sendDtmf: (module) => (digits, opts = {}, next) => node(module, Object.assign({}, opts, { digits: text(String(digits), 'digits') }), next),
    pivot: (module) => (target, opts = {}, next) => node(module, pivotData(text(target, 'pivot target'), opts), next),
    response: (module) => (code, message = '', opts = {}) => {
      need(Number.isInteger(code) && code >= 100 && code <= 699, 'response code must be an integer from 100 to 699');
      return node(module, Object.assign({}, opts, { code, message: String(message) }));
    },
    hangup: (module) => () => node(module, {}),
    setCid: (module) => (name, number, next) => node(module, { caller_id_name: String(name), caller_id_number: String(number) }, next),
    recordCall: (module) => (action, opts = {}, next) => {
      need(action === 'start' || action === 'stop', "recordCall action must be 'start' or 'stop'");
      return node(module, Object.assign({}, opts, { action }), next);
    },
  };
  // Every other builder is made from its registry entry's form.
  const forms = {
    opts: (b) => (opts = {}, next) => node(b.module, opts, next),
    text: (b) => (value, opts = {}, next) =>
      node(b.module, Object.assign({}, opts, { [b.field]: text(value, `${b.module} ${b.field}`, b.max) }), next),
    special: (b) => {
      need(special[b.js], `prelude.js has no builder ${b.js} for module ${b.module}: add it to \`special\``);
      return special[b.js](b.module);
    },
  };
  const builders = {};
  const registered = jsonParse(buildersJson);
  for (let i = 0; i < registered.length; i += 1) builders[registered[i].js] = forms[registered[i].form](registered[i]);
  const specialNames = objectKeys(special);
  for (let i = 0; i < specialNames.length; i += 1) {
    need(builders[specialNames[i]], `prelude.js builds ${specialNames[i]}, which the module registry does not list`);
  }
  const pivotforge = freeze(Object.assign({
    time: (zone = 'UTC') => {
      const t = host.time(String(zone), serviceNow());
      return { zone: t[0], year: t[1], month: t[2], day: t[3], hour: t[4], minute: t[5], second: t[6], weekday: t[7], dayOfWeek: t[8], date: t[9], time: t[10] };
    },
    node,
    recordingsUrl,
  }, builders));

  // ---- require / modules --------------------------------------------------------------------
  const modules = freeze({ cxKV, cxUserspace, pivotforge });
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
  // `needValue`: a call step must give a tree; anything else (`/run`, a form, `postCall`) may
  // give nothing, which is `null`.
  const settle = (r, needValue) => {
    // A Class 5 step ended at a ctx call the PBX carries out: the host holds what it was.
    if ('suspend' in r) return jsonStringify({ type: 'value', value: null });
    if ('ok' in r) {
      if (r.ok === undefined) {
        if (!needValue) return jsonStringify({ type: 'value', value: null });
        return jsonStringify({ type: 'error', name: 'Error', message: 'the function returned nothing: return a callflow node (or a value, for /run)', stack: '' });
      }
      try {
        return jsonStringify({ type: 'value', value: r.ok });
      } catch (e) {
        return jsonStringify({ type: 'error', name: e.name, message: `the result is not JSON: ${e.message}`, stack: '' });
      }
    }
    return jsonStringify(classify(r.fail));
  };
  let moduleObject = { exports: {} };
  let builtinNames = new Set();
  const ownProperty = Object.prototype.hasOwnProperty;
  const hasOwn = (o, k) => o !== null && (typeof o === 'object' || typeof o === 'function')
    && apply(ownProperty, o, [k]);
  // Only own members count: `exports.constructor` or `exports.toString` are Object's, and
  // `/run/flow/constructor` must not call them.
  const own = (o, k) => (hasOwn(o, k) ? o[k] : undefined);
  const hidden = (name) => typeof name !== 'string' || (name.length >= 2 && name[0] === '_' && name[1] === '_');
  const userGlobal = (name) => hasOwn(G, name) && !apply(setHas, builtinNames, [name]) && !hidden(name);
  const entry = (name) => {
    const ns = G.__pf_namespace;
    const ex = moduleObject.exports;
    const candidates = [
      name === 'main' && stepMain,
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
    for (let i = 0; i < candidates.length; i += 1) {
      if (typeof candidates[i] === 'function') return candidates[i];
    }
    return undefined;
  };
  // Every name `entry` resolves, for the error that names what can be called.
  const functionNames = () => {
    const names = new Set();
    const addName = (k) => apply(setAdd, names, [k]);
    const add = (o) => {
      if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return;
      // A getter that throws, or a module binding not yet initialised, names nothing.
      try {
        const ks = objectKeys(o);
        for (let i = 0; i < ks.length; i += 1) {
          try { if (typeof o[ks[i]] === 'function') addName(ks[i]); } catch (e) { /* skipped */ }
        }
      } catch (e) { /* skipped */ }
    };
    const ns = G.__pf_namespace;
    add(ns);
    add(ns && ns.default);
    add(moduleObject.exports);
    add(moduleObject.export);
    if (ns && typeof ns.default === 'function') addName('main');
    if (typeof moduleObject.exports === 'function' || typeof stepMain === 'function') addName('main');
    const globalNames = getOwnPropertyNames(G);
    for (let i = 0; i < globalNames.length; i += 1) {
      const k = globalNames[i];
      if (userGlobal(k) && typeof G[k] === 'function') addName(k);
    }
    return [...names].sort();
  };
  // The flow's vars are parsed and frozen once per sandbox and shared by every call: a call
  // can't change what the next one sees, and no call pays for copying them.
  const deepFreeze = (v) => {
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      freeze(v);
      for (const k of objectKeys(v)) deepFreeze(v[k]);
    }
    return v;
  };
  const flowVars = deepFreeze(jsonParse(varsJson));
  // The ctx of a Class 5 step. A fresh context makes one; a Class 5 realm (`__pf_class5`)
  // makes one for every step, so nothing of a step's ctx (an unawaited call) reaches the next.
  const newCtx = () => makeCtx(host, () => call.settle({ suspend: true }), logger('log'));
  let classFive = makeCtx ? newCtx() : undefined;
  // A Class 5 realm's script: its top level as a function, run anew by every step.
  let topLevel = null;
  let stepMain;
  const hasVars = objectKeys(flowVars).length > 0;
  const isObject = (v) => v !== null && typeof v === 'object' && !isArray(v);
  // varsMode: 0 leaves the argument alone, 1 sets `vars` (a call step, which must give a tree),
  // 2 sets it unless the argument has its own (`/run`, `postCall`).
  const run = (name, argJson, nowMs, varsMode) => {
    clockOffset = typeof nowMs === 'number' ? nowMs - apply(realNow, RealDate, []) : 0;
    const needValue = varsMode === 1;
    const arg = jsonParse(argJson);
    // The request leaves out an empty `Digits` (it keeps the exchange log small), but scripts
    // are promised an object on every call step, so `data.Digits.x` never throws.
    if (varsMode === 1 && isObject(arg) && !isObject(arg.Digits)) arg.Digits = {};
    if (hasVars && varsMode !== 0 && isObject(arg) && (varsMode === 1 || !('vars' in arg))) arg.vars = flowVars;
    call.data = arg;
    call.idle = null;
    timers.clear();
    pendingOps.clear();
    // Most flows answer synchronously: settle those without any promise machinery.
    let early = null;
    call.settle = (r) => { if (early === null) early = r; };
    let out, threw = false, thrown;
    let f;
    if (topLevel !== null) {
      // A Class 5 realm: the step runs the script's top level anew, as a fresh context would.
      moduleObject = { exports: {} };
      classFive = newCtx();
      try { stepMain = topLevel(); } catch (e) { return settle(early !== null ? early : { fail: e }, needValue); }
      if (early !== null) return settle(early, needValue);
    }
    try { f = entry(name); } catch (e) { return settle({ fail: e }, needValue); }
    if (!f) return jsonStringify({ type: 'missing', name: String(name), functions: functionNames() });
    try {
      out = classFive ? f(arg, classFive) : f(arg);
    } catch (e) {
      threw = true;
      thrown = e;
    }
    if (early !== null) return settle(early, needValue);
    if (threw && thrown !== EXIT) return settle({ fail: thrown }, needValue);
    const thenable = out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function';
    if (!threw && out !== undefined && !thenable) return settle({ ok: out }, needValue);
    // A promise, a function that gave nothing, or a legacy main that calls exit()/err() later
    // from a callback: the first of exit()/err(), a value or a failure settles it. Nothing
    // (`undefined`) settles only once the host finds nothing left to run (`__pf_idle`), since a
    // timer or a fetch may still call exit().
    let done = false;
    let resolveOuter;
    const outer = new PromiseCtor((resolve) => { resolveOuter = resolve; });
    const settleOnce = (r) => {
      if (done) return;
      done = true;
      call.idle = null;
      resolveOuter(settle(r, needValue));
    };
    call.settle = settleOnce;
    const ran = new PromiseCtor((resolve, reject) => { if (threw) reject(thrown); else resolve(out); });
    apply(promiseThen, ran, [
      (ok) => { if (ok === undefined) call.idle = () => settleOnce({ ok }); else settleOnce({ ok }); },
      (fail) => { if (fail !== EXIT) settleOnce({ fail }); },
    ]);
    return outer;
  };
  // The host found no job, timer or fetch left: a function that gave nothing is done.
  const idle = () => {
    const f = call.idle;
    if (!f) return false;
    f();
    return true;
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
    if (ok) op.resolve(jsonParse(payload)); else op.reject(new Error(payload));
  };

  // ---- a Class 5 realm: one context a flow's steps share, each running the script anew -----
  // A step must see what the call's first step saw, so nothing a step does may outlive it. The
  // script's top level runs inside a function (`topLevel`) on every step, so its bindings are
  // the step's own; the standard built-ins are frozen, as in a hardened JavaScript realm; the
  // global object's own properties are fixed, and `clean` tells the host whether a step added
  // one (an undeclared assignment), or made a FinalizationRegistry whose callback could run in
  // a later step: either way the host drops the realm.
  let dirty = false;
  let globalCount = -1;
  let globalProto = null;
  // Built-in members that scripts commonly assign on their own objects (`this.name = …` in an
  // Error subclass, `Foo.prototype.toString = …`): frozen as data, such an assignment would fail
  // as the inherited member is read-only, so each is an accessor whose setter gives the object
  // its own property. The built-in itself still can't be changed.
  const overridable = (proto, names) => {
    for (let i = 0; i < names.length; i += 1) {
      const name = names[i];
      const d = Reflect.getOwnPropertyDescriptor(proto, name);
      if (!d || !('value' in d) || !d.configurable) continue;
      const value = d.value;
      defineProperty(proto, name, {
        get: { [name]() { return value; } }[name],
        set: { [name](v) {
          if (this === proto) throw new TypeError(`${String(name)} of a built-in can't be changed: a Class 5 flow's built-ins are frozen`);
          defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        } }[name],
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  };
  const hardenRealm = () => {
    const errors = ['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError', 'InternalError'];
    overridable(Object.prototype, ['constructor', 'toString', 'valueOf', 'toLocaleString', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable']);
    overridable(Function.prototype, ['constructor', 'toString']);
    overridable(Array.prototype, ['constructor', 'toString', 'push']);
    overridable(Promise.prototype, ['constructor']);
    for (let i = 0; i < errors.length; i += 1) {
      const E = G[errors[i]];
      if (typeof E === 'function') overridable(E.prototype, ['constructor', 'name', 'message', 'toString']);
    }
    const FR = G.FinalizationRegistry;
    if (typeof FR === 'function') {
      const tripped = new Proxy(FR, { construct: (target, args, newTarget) => { dirty = true; return construct(target, args, newTarget === tripped ? target : newTarget); } });
      defineProperty(FR.prototype, 'constructor', { value: tripped });
      defineProperty(G, 'FinalizationRegistry', { value: tripped });
    }
    // Intrinsics no global names: reached from instances.
    const hidden = [
      function* () {}, async function () {}, async function* () {}, [][Symbol.iterator](),
      new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ''[Symbol.iterator](),
      /a/[Symbol.matchAll]('a'),
    ];
    const queue = [];
    const seen = new WeakSet();
    const visit = (v) => {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return;
      seen.add(v);
      queue.push(v);
    };
    for (let i = 0; i < hidden.length; i += 1) visit(Object.getPrototypeOf(hidden[i]));
    seen.add(G);
    for (const key of Reflect.ownKeys(G)) {
      const d = Reflect.getOwnPropertyDescriptor(G, key);
      if ('value' in d) {
        visit(d.value);
        if (d.configurable || d.writable) defineProperty(G, key, { writable: false, configurable: false });
      } else {
        visit(d.get);
        visit(d.set);
        if (d.configurable) defineProperty(G, key, { configurable: false });
      }
    }
    visit(Object.getPrototypeOf(G));
    while (queue.length > 0) {
      const o = queue.pop();
      freeze(o);
      visit(Object.getPrototypeOf(o));
      for (const key of Reflect.ownKeys(o)) {
        const d = Reflect.getOwnPropertyDescriptor(o, key);
        if ('value' in d) visit(d.value); else { visit(d.get); visit(d.set); }
      }
    }
    globalCount = Reflect.ownKeys(G).length;
    globalProto = Object.getPrototypeOf(G);
  };
  // Once, before the first step: the script's top level as a function, then the realm frozen.
  const class5Realm = (script) => {
    if (topLevel !== null || typeof script !== 'function') throw new TypeError('__pf_class5: once, with the top level');
    topLevel = script;
    hardenRealm();
  };
  // After a step: whether the next step may run in this realm.
  const clean = () => !dirty && Reflect.ownKeys(G).length === globalCount && Object.getPrototypeOf(G) === globalProto;

  // ---- install: the host's objects are frozen and its globals fixed; built-ins stay as they are
  // Deep, but through own properties only: the prototypes are the language's built-ins.
  const guarded = new WeakSet();
  const protect = (v) => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || guarded.has(v)) return v;
    guarded.add(v);
    freeze(v);
    for (const key of Reflect.ownKeys(v)) {
      const d = Reflect.getOwnPropertyDescriptor(v, key);
      if (d && 'value' in d) protect(d.value);
    }
    return v;
  };
  const define = (name, value) => defineProperty(G, name, { value: protect(value), writable: false, enumerable: false, configurable: false });
  const process = { env: Object.assign({}, env) };
  const globals = { console, require, api, fetch, setTimeout, clearTimeout, setInterval, vars, exit, err, process,
    __pf_run: run, __pf_fire: fire, __pf_complete: complete, __pf_idle: idle, __pf_modules: modules };
  if (makeCtx) Object.assign(globals, { __pf_class5: class5Realm, __pf_clean: clean });
  for (const name of objectKeys(globals)) define(name, globals[name]);
  defineProperty(G, 'module', { get: () => moduleObject, enumerable: false, configurable: false });
  defineProperty(G, 'exports', { get: () => moduleObject.exports, set: (v) => { moduleObject.exports = v; }, enumerable: false, configurable: false });
  builtinNames = new Set(Reflect.ownKeys(G));
})
