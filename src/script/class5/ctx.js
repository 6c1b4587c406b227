// pivotforge Class 5: the `ctx` a `main(data, ctx)` flow receives. Each method goes to the host
// (`host.ctx`), which answers it from the call's journal or carries it out; a method the PBX
// must do (ivr, hangup) ends the step. An awaited ctx call hands back a thenable whose `then`
// marks it awaited, so a ctx call started while another is unawaited is caught.
(function (host, suspend, log) {
  'use strict';
  const { parse, stringify } = JSON;
  const PromiseCtor = Promise;
  const never = { then() {} };
  let pending = null;
  // The script's own line in `at`'s stack: the first frame outside pivotforge's files. Read
  // only for an error: every ctx call keeps its stack, few need it read.
  const lineOf = (at) => {
    const stack = String(at.stack || '').split('\n');
    for (let i = 0; i < stack.length; i += 1) {
      const m = /\(?([^\s()]+):(\d+)(?::\d+)?\)?\s*$/.exec(stack[i]);
      if (m && m[1].indexOf('pivotforge:') !== 0) return `${m[1]}:${m[2]}`;
    }
    return 'an unknown line';
  };
  const fail = (message) => { throw new Error(message); };
  const invoke = (method, args, tracked) => {
    const at = new Error();
    if (pending !== null) {
      fail(`ctx.${method}() at ${lineOf(at)} was called while ctx.${pending.method}() at ${lineOf(pending.at)} `
        + 'is still pending: await every ctx call (a missing await desynchronises the call)');
    }
    const out = parse(host.ctx(method, stringify(args)));
    if (out.error !== undefined) fail(out.error);
    if (out.suspend) { suspend(); return never; }
    if (!tracked) return PromiseCtor.resolve(out.value);
    const mark = { method, at };
    pending = mark;
    const settled = () => { if (pending === mark) pending = null; return PromiseCtor.resolve(out.value); };
    return {
      then(ok, err) { return settled().then(ok, err); },
      catch(err) { return settled().then(undefined, err); },
      finally(f) { return settled().finally(f); },
    };
  };
  const ctx = {};
  const method = (name, arity) => {
    Object.defineProperty(ctx, name, {
      value: { [name](...args) { return invoke(name, args.slice(0, arity), true); } }[name],
      enumerable: true,
    });
  };
  method('answer', 0);
  method('tts', 1);
  method('play', 1);
  method('ivr', 6);
  method('hangup', 0);
  method('bridge', 2);
  method('record', 1);
  method('waitForHangup', 0);
  // The host words these errors (src/ctx_map/calls.rs), so they live in one place.
  const unavailable = (name) => () => invoke(name, [], false);
  Object.assign(ctx, {
    get: (key) => parse(host.ctxGet(String(key))),
    set: (key, value) => invoke('set', [String(key), value === undefined ? null : value], false),
    log: (...args) => log(...args),
    echo: unavailable('echo'),
    blockDtmf: unavailable('blockDtmf'),
    waitFor: unavailable('waitFor'),
    header: (name, value) => {
      if (value !== undefined) invoke('header', [String(name), value], false);
      return parse(host.ctxGet(`sip_h_${String(name)}`));
    },
  });
  return Object.freeze(ctx);
})
