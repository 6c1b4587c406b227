//! The host functions only a Class 5 step uses: `effect` (the clock and `Math.random` through
//! the effects boundary), `ctx` (a ctx method) and `ctxGet` (a call variable). In a plain flow
//! they are installed too but find no step: `effect` gives the live value back.

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::{Ctx, Function, Object};
use serde_json::{json, Value};

use super::ops;
use crate::script::host::CallState;

/// Adds the Class 5 host functions to `host`.
pub fn install<'js>(
    ctx: &Ctx<'js>,
    host: &Object<'js>,
    state: &Rc<RefCell<CallState>>,
) -> rquickjs::Result<()> {
    let st = state.clone();
    host.set(
        "effect",
        Function::new(ctx.clone(), move |kind: String, live: String| -> String {
            let mut state = st.borrow_mut();
            let Some(fx) = state.class5.as_mut() else {
                return live;
            };
            match fx.take(&kind) {
                Some(Ok(v)) => v.to_string(),
                // Diverged: the step's result is refused, so any value does.
                Some(Err(_)) => live,
                None => {
                    let value: Value = serde_json::from_str(&live).unwrap_or(Value::Null);
                    fx.record(&kind, &Ok(value));
                    live
                }
            }
        })?,
    )?;
    let st = state.clone();
    host.set(
        "ctx",
        Function::new(ctx.clone(), move |method: String, args: String| -> String {
            let mut state = st.borrow_mut();
            let in_flight = state.fetches;
            let Some(fx) = state.class5.as_mut() else {
                return json!({"error": "ctx is only given to Class 5 flows"}).to_string();
            };
            // The step ends here and its context with it: a fetch not yet answered would be
            // lost, and its replay would wait for an answer no journal holds.
            if in_flight > 0 && fx.mode() == super::Mode::Recording && ops::suspends(&method) {
                let error = format!(
                    "ctx.{method}() ends the call step while {in_flight} fetch(es) are still in \
                     flight: await each fetch before a ctx call the PBX carries out"
                );
                return json!({ "error": error }).to_string();
            }
            let args: Value = serde_json::from_str(&args).unwrap_or(Value::Null);
            match ops::call(fx, &method, &args) {
                Ok(out) => out.to_string(),
                Err(error) => json!({ "error": error }).to_string(),
            }
        })?,
    )?;
    let st = state.clone();
    host.set(
        "ctxGet",
        Function::new(ctx.clone(), move |key: String| -> String {
            let state = st.borrow();
            state
                .class5
                .as_ref()
                .map_or(Value::Null, |fx| ops::get(fx, &key))
                .to_string()
        })?,
    )?;
    Ok(())
}

/// A fetch's options (JSON text) with an `Idempotency-Key` header, unless the script set one.
pub fn with_idempotency_key(options: &str, key: &str) -> String {
    let mut opts: Value = serde_json::from_str(options).unwrap_or_else(|_| json!({}));
    if !opts.get("headers").is_some_and(Value::is_object) {
        opts["headers"] = json!({});
    }
    if let Some(headers) = opts["headers"].as_object_mut() {
        let has = headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("idempotency-key"));
        if !has {
            headers.insert("Idempotency-Key".into(), Value::String(key.to_owned()));
        }
    }
    opts.to_string()
}
