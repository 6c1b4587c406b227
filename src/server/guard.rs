//! The one place requests are checked for credentials: a middleware in front of every route that
//! decides by the first path segment. Each route declares its area where it is defined
//! (`ROUTES` in `server/mod.rs`); this module only reads it. Today's areas:
//!
//! | area | paths | credentials |
//! |---|---|---|
//! | open | `/healthz`, `/readyz`, `/schemas…`, `/openapi.json`, uploads (`PUT`/`POST /recordings…`, which check their own) | none |
//! | pivot | `/pivot…`, `/events…` | `[auth]` pivot (basic, bearer, or `?auth_token=`) or admin |
//! | token | `/t/TOKEN/pivot…`, `/t/TOKEN/events…`; `PUT`/`POST /t/TOKEN/recordings…` | the path's token: the pivot (or admin) token; the upload token |
//! | recordings | any other method on `/recordings…` | `[auth]` admin, or `[recordings] admin_token` |
//! | admin | everything else (`/calls`, `/metrics`, `/userspace`, `/run`, `/flows`, `/ui`, …) | `[auth]` admin |
//!
//! A path `/t/TOKEN/…` carries its token in the path ([`crate::auth::url_token`]): only for
//! `/pivot`, `/events` (the pivot token) and uploads (the upload token); the prefix is taken off
//! here, so handlers see the same path as without it.
//!
//! Unknown paths fall in the admin area: a route nobody listed here is protected, not open.
//! A pivot request's `auth_token` query parameter is taken out of the request before any
//! handler sees it, so it never reaches a flow, the exchange log or a log line.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, ConnectionType, Method, Uri};
use actix_web::{HttpResponse, ResponseError};
use futures_util::future::{Either, FutureExt, Map};

use super::error::ApiError;
use crate::auth::url_token::{self, SplitError};
use crate::auth::{Denied, Gate, MANGLED};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::request::form;

/// The query parameter that may carry the pivot token (Kazoo can only send what the URL holds).
pub const TOKEN_PARAM: &str = "auth_token";

/// Which credentials a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// None.
    Open,
    /// The PBX's: `/pivot`, `/events`.
    Pivot,
    /// Managing recordings: listing, downloading, deleting.
    Recordings,
    /// Everything else.
    Admin,
}

impl Area {
    /// The area of a request, from its (decoded) path and method: the area its route declares
    /// in [`super::ROUTES`], by first segment. Uploads (`PUT`/`POST` on a recordings route)
    /// are open here because their handler checks the upload credentials itself.
    pub fn of(path: &str, method: &Method) -> Area {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let declared = super::ROUTES.iter().find(|r| r.segment == first);
        match declared.map(|r| r.area) {
            Some(Area::Recordings) if method == Method::PUT || method == Method::POST => Area::Open,
            Some(area) => area,
            // A path no route names is protected, not open.
            None => Area::Admin,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Area::Open => "open",
            Area::Pivot => "pivot",
            Area::Recordings => "recordings",
            Area::Admin => "admin",
        }
    }
}

/// The gates of each area, built once from the configuration.
pub struct Rules {
    pivot: Gate,
    upload: crate::recordings::Access,
    recordings: Gate,
    admin: Gate,
    metrics: Arc<Metrics>,
}

impl Rules {
    /// The rules of `config`; refusals are counted in `metrics`.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Rules {
        let auth = &config.auth;
        Rules {
            pivot: auth.pivot_gate(),
            upload: crate::recordings::Access::new(&config.recordings),
            recordings: auth
                .admin_gate()
                .token(config.recordings.admin_token.as_ref()),
            admin: auth.admin_gate(),
            metrics,
        }
    }

    fn gate(&self, area: Area) -> Option<&Gate> {
        match area {
            Area::Open => None,
            Area::Pivot => Some(&self.pivot),
            Area::Recordings => Some(&self.recordings),
            Area::Admin => Some(&self.admin),
        }
    }

    /// Lets a request of `area` in, or says why not. `query_token` is a pivot request's
    /// `auth_token`, tried when the header does not pass.
    pub fn decide(
        &self,
        area: Area,
        authorization: Option<&str>,
        query_token: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(gate) = self.gate(area) else {
            return Ok(());
        };
        let checked = match (gate.check(authorization), query_token) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(token)) => gate.check_token(token),
            (Err(denied), None) => Err(denied),
        };
        checked.map_err(|denied| ApiError::Unauthorized {
            detail: refusal(area, gate, denied),
            challenge: gate.challenge(),
        })
    }
}

/// What to send instead, for a refused request.
fn refusal(area: Area, gate: &Gate, denied: Denied) -> String {
    let section = match area {
        Area::Recordings => "[auth] or [recordings]",
        _ => "[auth]",
    };
    // Only the PBX sends credentials through Kazoo's URL splitter; elsewhere it is a wrong pair.
    if denied == Denied::Mangled && area == Area::Pivot {
        return MANGLED.to_owned();
    }
    if denied != Denied::Missing {
        return format!(
            "the credentials sent are not the ones configured in {section}; check the user, \
             password or token"
        );
    }
    let mut ways = Vec::new();
    match area {
        Area::Pivot => {
            if gate.takes_basic() {
                ways.push(
                    "put user:password@ in the voice_url of a pivot node with \"method\": \"post\" \
                     (HTTP basic; a GET mangles it)",
                );
            }
            if gate.takes_token() {
                ways.push("use the token URL /t/TOKEN/pivot/NAME (`pivotforge token` prints it)");
                ways.push("add auth_token=TOKEN to the voice_url's query");
                ways.push("send Authorization: Bearer TOKEN");
            }
        }
        _ => {
            if gate.takes_token() {
                ways.push("send Authorization: Bearer with the admin token");
            }
            if gate.takes_basic() {
                ways.push("use HTTP basic with the admin user and password");
            }
        }
    }
    let what = match area {
        Area::Pivot => "/pivot and /events need credentials",
        Area::Recordings => "listing, downloading and deleting recordings need admin credentials",
        _ => "this endpoint needs the admin credentials",
    };
    format!("{what} ({section}): {}", ways.join(", or "))
}

/// Takes `auth_token` out of a query string: `None` when it has none, else the query without it
/// and the token (decoded; an undecodable one reads as empty, which no gate accepts).
pub fn take_token(query: &str) -> Option<(String, String)> {
    if !query.contains(TOKEN_PARAM) {
        return None;
    }
    let mut rest = Vec::new();
    let mut token = None;
    for segment in query.split('&') {
        let key = segment.split_once('=').map_or(segment, |(k, _)| k);
        if key == TOKEN_PARAM {
            let mut value = String::new();
            let _ = form::pairs(segment.as_bytes(), |_, v| value = v);
            token = Some(value);
        } else {
            rest.push(segment);
        }
    }
    token.map(|token| (rest.join("&"), token))
}

/// Marks a request let in by the token of its `/t/TOKEN/…` path, so the upload handler does
/// not ask for a header as well.
#[derive(Debug, Clone, Copy)]
pub struct PathToken;

/// Replaces the query of a request (its head and the router's copy).
fn set_query(req: &mut ServiceRequest, query: &str) -> Result<(), ApiError> {
    let path = req.uri().path().to_owned();
    set_path_and_query(req, &path, query)
}

/// Replaces the path and query of a request (its head and the router's copy).
fn set_path_and_query(req: &mut ServiceRequest, path: &str, query: &str) -> Result<(), ApiError> {
    let path_and_query = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut parts = req.uri().clone().into_parts();
    let rebuilt = path_and_query
        .parse()
        .ok()
        .and_then(|pq| {
            parts.path_and_query = Some(pq);
            Uri::from_parts(parts).ok()
        })
        .ok_or_else(|| ApiError::BadRequest("malformed query string".into()))?;
    req.match_info_mut().get_mut().update(&rebuilt);
    req.head_mut().uri = rebuilt;
    Ok(())
}

/// The Call-ID of a refused pivot request, for its log line.
fn call_id(query: &str) -> String {
    let mut found = String::new();
    let _ = form::pairs(query.as_bytes(), |k, v| {
        if k == "Call-ID" {
            found = v;
        }
    });
    found
}

/// Checks a request whose path is `/t/TOKEN/…` and takes the prefix off.
fn admit_path_token(
    rules: &Rules,
    req: &mut ServiceRequest,
    split: Result<(String, String), SplitError>,
) -> Result<(), ApiError> {
    const FORMS: &str = "/t/TOKEN/pivot/NAME, /t/TOKEN/events/NAME or /t/TOKEN/recordings/…";
    let (token, rest) = match split {
        Ok(parts) => parts,
        Err(SplitError::NoToken) => {
            return Err(ApiError::Unauthorized {
                detail: format!("this token URL holds no token: use {FORMS}"),
                challenge: "Bearer realm=\"pivotforge\"",
            })
        }
        Err(SplitError::NoRoute) => {
            return Err(ApiError::NotFound(format!(
                "this token URL names no route: use {FORMS}"
            )))
        }
    };
    let area = Area::of(&rest, req.method());
    let is_upload = area == Area::Open && rest.starts_with("/recordings");
    let checked = if area == Area::Pivot {
        rules
            .pivot
            .check_token(&token)
            .map_err(|_| "/pivot and /events")
    } else if is_upload {
        rules.upload.upload_url_token(&token).map_err(|_| "uploads")
    } else {
        return Err(ApiError::NotFound(
            "a token URL serves only /pivot, /events and recording uploads (PUT or POST \
             /recordings…): call other endpoints without /t/TOKEN, with the admin credentials"
                .into(),
        ));
    };
    if let Err(what) = checked {
        let label = if is_upload { "upload" } else { area.label() };
        rules.metrics.denied(label);
        let e = ApiError::Unauthorized {
            detail: format!(
                "the token in this URL is not the one configured for {what} ([auth] \
                 pivot_token, [recordings] upload_token, or the one derived from the basic \
                 credentials: `pivotforge token` prints the URLs)"
            ),
            challenge: "Bearer realm=\"pivotforge\"",
        };
        tracing::info!(
            area = label,
            path = %crate::calls::redact::mask_url(req.path()),
            call_id = call_id(req.query_string()),
            status = 401,
            reason = %e,
            "request refused"
        );
        return Err(e);
    }
    let mut query = req.query_string().to_owned();
    if area == Area::Pivot {
        if let Some((without, _)) = take_token(&query) {
            query = without;
        }
    }
    set_path_and_query(req, &rest, &query)?;
    actix_web::HttpMessage::extensions_mut(req).insert(PathToken);
    Ok(())
}

/// Checks one request; `Err` is the response to send instead.
fn admit(rules: &Rules, req: &mut ServiceRequest) -> Result<(), ApiError> {
    if let Some(split) = url_token::split(req.uri().path()) {
        // Owned: the request is rewritten while the token is checked.
        let split = split.map(|(t, r)| (t.to_owned(), r.to_owned()));
        return admit_path_token(rules, req, split);
    }
    let area = Area::of(req.match_info().as_str(), req.method());
    if area == Area::Open {
        return Ok(());
    }
    let mut query_token = None;
    if area == Area::Pivot {
        if let Some((rest, token)) = take_token(req.query_string()) {
            set_query(req, &rest)?;
            query_token = Some(token);
        }
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let decided = rules.decide(area, authorization, query_token.as_deref());
    if let Err(e) = &decided {
        rules.metrics.denied(area.label());
        let call_id = match area {
            Area::Pivot => call_id(req.query_string()),
            _ => String::new(),
        };
        tracing::info!(
            area = area.label(),
            path = req.path(),
            call_id,
            status = 401,
            reason = %e,
            "request refused"
        );
    }
    decided
}

/// The middleware factory; one per worker, sharing the rules.
#[derive(Clone)]
pub struct Guard(Arc<Rules>);

impl Guard {
    /// A guard applying `rules`.
    pub fn new(rules: Arc<Rules>) -> Guard {
        Guard(rules)
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<GuardService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service,
            rules: self.0.clone(),
        }))
    }
}

/// The guard in front of one worker's routes.
pub struct GuardService<S> {
    service: S,
    rules: Arc<Rules>,
}

type Reply<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    #[allow(clippy::type_complexity)]
    type Future = Either<
        Map<S::Future, fn(Result<ServiceResponse<B>, actix_web::Error>) -> Reply<B>>,
        Ready<Reply<B>>,
    >;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        match admit(&self.rules, &mut req) {
            Ok(()) => {
                let left: fn(Result<ServiceResponse<B>, actix_web::Error>) -> Reply<B> =
                    |r| r.map(|res| super::routes::with_allow(res).map_into_left_body());
                Either::Left(self.service.call(req).map(left))
            }
            Err(e) => {
                let mut response: HttpResponse = e.error_response();
                if has_body(&req) {
                    // The body was not read, so the connection can't carry another request.
                    response
                        .head_mut()
                        .set_connection_type(ConnectionType::Close);
                }
                Either::Right(ready(Ok(req.into_response(response).map_into_right_body())))
            }
        }
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_by_first_segment() {
        let get = Method::GET;
        for (path, area) in [
            ("/healthz", Area::Open),
            ("/readyz", Area::Open),
            ("/schemas/tts.json", Area::Open),
            ("/pivot/main", Area::Pivot),
            ("//pivot/main", Area::Pivot),
            ("/events/x", Area::Pivot),
            ("/recordings", Area::Recordings),
            ("/recordings/abc/audio", Area::Recordings),
            ("/calls", Area::Admin),
            ("/ui/app.js", Area::Admin),
            ("/metrics", Area::Admin),
            ("/userspace/dnc/1", Area::Admin),
            ("/run/x", Area::Admin),
            ("/flows", Area::Admin),
            ("/", Area::Admin),
            ("/pivotx", Area::Admin),
            ("/healthzz", Area::Admin),
        ] {
            assert_eq!(Area::of(path, &get), area, "{path}");
        }
        assert_eq!(Area::of("/recordings/a.mp3", &Method::PUT), Area::Open);
        assert_eq!(Area::of("/recordings", &Method::POST), Area::Open);
        assert_eq!(Area::of("/recordings/x", &Method::DELETE), Area::Recordings);
    }

    #[test]
    fn every_route_gets_the_area_it_declares() {
        let mut seen = std::collections::BTreeSet::new();
        for route in super::super::ROUTES {
            assert!(
                seen.insert(route.segment),
                "{} is listed twice",
                route.segment
            );
            let path = format!("/{}/x", route.segment);
            assert_eq!(Area::of(&path, &Method::GET), route.area, "{path}");
        }
    }

    #[test]
    fn the_token_leaves_the_query() {
        assert_eq!(take_token("Call-ID=a&Digits[x]=1"), None);
        assert_eq!(
            take_token("auth_token=t%2D1&Call-ID=a%40b&&x=1"),
            Some(("Call-ID=a%40b&&x=1".into(), "t-1".into()))
        );
        assert_eq!(
            take_token("Call-ID=a&auth_token=t1"),
            Some(("Call-ID=a".into(), "t1".into()))
        );
        assert_eq!(
            take_token("auth_token"),
            Some((String::new(), String::new()))
        );
        assert_eq!(
            take_token("auth_token=%zz"),
            Some((String::new(), String::new()))
        );
        // A parameter whose name merely contains the word stays.
        assert_eq!(take_token("my_auth_token=1"), None);
    }
}
