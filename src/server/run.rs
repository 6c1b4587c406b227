//! `POST /run/{script}[/{function}]`: run a script's `main` (or a named export) with the JSON
//! body as its argument — drivers, form submissions, and testing a script with curl.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::body::read_limited;
use super::error::ApiError;
use super::AppState;
use crate::engine::RunError;
use crate::flows::valid_flow_name;
use crate::script::{no_such_function, ScriptFailure};

/// The handler. 200 `{result, logs}`; a rejection 422 `{code, reason, logs}`; a function the
/// script does not define or export 404 `{error, detail, functions, logs}`; a failure 500
/// `{error, detail, logs}`.
pub async fn run(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (req, state) = (&req, state.get_ref());
    super::require_post(req, "/run")?;
    let path = req.path().strip_prefix("/run/").unwrap_or("");
    let (script, function) = split_function(path, state);
    if !valid_flow_name(script) {
        return Err(ApiError::NotFound(format!(
            "`{script}` is not a script name"
        )));
    }
    let body = read_limited(
        req,
        payload,
        state.config.max_body_bytes,
        state.config.limits.body_timeout(),
    )
    .await?;
    let arg: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body must be JSON: {e}")))?
    };
    check_main_argument(script, function, &arg)?;
    let run = match state
        .engine
        .run_function(script, function, arg, Some(state.clock.now()))
        .await
    {
        Ok(run) => run,
        Err(RunError::NotFound(name)) => {
            return Err(ApiError::NotFound(format!(
                "no script named `{name}`: add callflows/{name}.js"
            )))
        }
        Err(RunError::NotScript(name)) => {
            return Err(ApiError::NotFound(format!(
                "`{name}` is a rule flow, not a script: use /pivot/{name}"
            )))
        }
        Err(RunError::Overloaded(o)) => return Err(o.into()),
        Err(e @ (RunError::NotLoaded(_) | RunError::NoPool)) => {
            return Ok(HttpResponse::InternalServerError()
                .json(json!({"error": "script not loaded", "detail": e.to_string(), "logs": []})))
        }
    };
    tracing::info!(
        script,
        function,
        ok = run.result.is_ok(),
        run_us = run.run_time.as_micros() as u64,
        "run"
    );
    Ok(match run.result {
        Ok(result) => HttpResponse::Ok().json(json!({"result": result, "logs": run.logs})),
        Err(ScriptFailure::Rejected { code, reason }) => HttpResponse::UnprocessableEntity()
            .json(json!({"code": code, "reason": reason, "logs": run.logs})),
        Err(ScriptFailure::NoSuchFunction {
            function,
            functions,
        }) => HttpResponse::NotFound().json(json!({
            "error": "no such function",
            "detail": no_such_function(&function, &functions),
            "functions": functions,
            "logs": run.logs,
        })),
        Err(ScriptFailure::Error { kind, detail }) => HttpResponse::InternalServerError()
            .json(json!({"error": kind, "detail": detail, "logs": run.logs})),
    })
}

/// `main` is a flow's entry point: it takes the call's data, always an object (which the flow's
/// `vars` join), so any other JSON value is bad input, not a script failure to answer with 500.
fn check_main_argument(script: &str, function: &str, arg: &Value) -> Result<(), ApiError> {
    if function != "main" || arg.is_object() {
        return Ok(());
    }
    let sent = match arg {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Err(ApiError::BadRequest(format!(
        "the body of /run/{script} must be a JSON object, not {sent}: `main` takes the call's \
         data, e.g. {{\"Caller-ID-Number\": \"+14155550199\"}} (or {{}}); another function, \
         POST /run/{script}/NAME, takes any JSON value"
    )))
}

/// `a/b/fn` is function `fn` of script `a/b` when `a/b` is a flow; otherwise `main` of `a/b/fn`.
fn split_function<'a>(path: &'a str, state: &AppState) -> (&'a str, &'a str) {
    let registry = state.engine.registry();
    if registry.get(path).is_some() {
        return (path, "main");
    }
    match path.rsplit_once('/') {
        Some((script, function)) if registry.get(script).is_some() => (script, function),
        _ => (path, "main"),
    }
}
