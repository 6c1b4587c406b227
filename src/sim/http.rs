//! A simulated call against a running service over HTTP, sent as the PBX sends it: the first
//! request to `BASE/pivot/FLOW`, every later one to its pivot node's `voice_url`, no headers of
//! the PBX's own but the body's `Content-Type`, no redirects followed, each request within its
//! timeout (5 s, Kazoo's default).

use super::play::{play, Transport};
use super::reply::WireReply;
use super::spec::{CallSpec, Method};
use super::transcript::Transcript;
use super::wire::WireRequest;

/// The largest reply body read; Kazoo would not run a bigger tree either.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Plays `spec` against the service at `base_url` (`http://host:port`, with `/t/TOKEN` when
/// `/pivot` is protected); `Err` only when the call can't start (a bad URL).
pub fn play_url(base_url: &str, spec: &CallSpec) -> Result<Transcript, String> {
    let base = base_url.trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).map_err(|e| {
        format!("--url {base_url}: not a URL ({e}); give e.g. http://127.0.0.1:8080")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("--url {base_url}: give an http:// or https:// URL"));
    }
    // reqwest is built without a TLS provider of its own (see script/fetch.rs).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("can't build the HTTP client: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("can't start the call's runtime: {e}"))?;
    let transport = Http {
        client,
        base: base.to_owned(),
    };
    let schemas = crate::callflow::Schemas::new();
    Ok(runtime.block_on(play(&transport, spec, &schemas)))
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Transport for Http {
    fn first_url(&self, flow: &str) -> String {
        format!("{}/pivot/{flow}", self.base)
    }

    async fn send(&self, request: &WireRequest) -> WireReply {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(request.timeout);
        if let (Some(content_type), Some((_, body))) = (request.content_type(), &request.body) {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.clone());
        }
        match builder.send().await {
            Ok(response) => read(response, request).await,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no reply within {} ms", request.timeout.as_millis())
                } else {
                    format!("the request failed: {}", e.without_url())
                };
                WireReply {
                    error: Some(why),
                    ..WireReply::default()
                }
            }
        }
    }
}

/// Reads a reply within [`MAX_BODY`].
async fn read(mut response: reqwest::Response, request: &WireRequest) -> WireReply {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                return WireReply {
                    error: Some(format!("the reply is larger than {MAX_BODY} bytes")),
                    ..WireReply::default()
                }
            }
            Ok(None) => break,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!(
                        "the reply did not end within {} ms",
                        request.timeout.as_millis()
                    )
                } else {
                    format!("reading the reply failed: {}", e.without_url())
                };
                return WireReply {
                    error: Some(why),
                    ..WireReply::default()
                };
            }
        }
    }
    WireReply {
        status: Some(status),
        content_type,
        body,
        ..WireReply::default()
    }
}
