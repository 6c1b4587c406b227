//! `fetch` for scripts: requests run on a small tokio runtime of their own, so a JS thread waits
//! for its reply without blocking, and every request is bounded by the call's deadline. A
//! simulated call's fetcher is canned instead ([`Fetcher::canned`]): answers from a list, no
//! network.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::json;

/// Largest response body a script may read.
const MAX_BODY: usize = 1024 * 1024;

/// A finished `fetch`, sent back to the JS thread that started it.
#[derive(Debug)]
pub struct Completion {
    /// The call that started it; a later call ignores it.
    pub seq: u64,
    /// The operation id inside that call.
    pub id: u32,
    /// JSON text of `{status, statusText, url, headers, body}`, or an error message.
    pub result: Result<String, String>,
}

/// One canned `fetch` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedFetch {
    /// The URL it answers, exactly as the script fetches it.
    pub url: String,
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// The shared HTTP client and the runtime it runs on, or the canned answers of a simulated call.
#[derive(Clone)]
pub struct Fetcher {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Network {
        client: reqwest::Client,
        runtime: Arc<Background>,
    },
    Canned(Arc<[CannedFetch]>),
}

/// Owns the fetch runtime. Dropping a tokio runtime blocks until its tasks end, which tokio
/// forbids (by panicking) inside another runtime, where the server's state is dropped at
/// shutdown; so it is let go in the background instead.
struct Background(Option<tokio::runtime::Runtime>);

impl Background {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.0 {
            runtime.spawn(task);
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[derive(Deserialize)]
struct Options {
    method: String,
    #[serde(default)]
    headers: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
}

impl Fetcher {
    /// Builds the client; redirects are not followed, so a script only ever reaches an allowed host.
    pub fn new() -> std::io::Result<Fetcher> {
        // reqwest is built without a TLS provider of its own; ring is ours (a second call is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pivotforge-fetch")
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pivotforge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Fetcher {
            mode: Mode::Network {
                client,
                runtime: Arc::new(Background(Some(runtime))),
            },
        })
    }

    /// A fetcher that answers from `answers` by exact URL and fails any other URL: no request
    /// leaves the process (simulated calls, scenarios).
    pub fn canned(answers: Vec<CannedFetch>) -> Fetcher {
        Fetcher {
            mode: Mode::Canned(answers.into()),
        }
    }

    /// Starts one request; its completion is sent on `done`.
    pub fn start(
        &self,
        seq: u64,
        id: u32,
        url: reqwest::Url,
        options: &str,
        deadline: Instant,
        done: Sender<Completion>,
    ) {
        let (client, runtime) = match &self.mode {
            Mode::Network { client, runtime } => (client, runtime),
            Mode::Canned(answers) => {
                let result = serde_json::from_str::<Options>(options)
                    .map_err(|e| format!("fetch: bad options: {e}"))
                    .and_then(|_| canned_answer(answers, &url));
                let _ = done.send(Completion { seq, id, result });
                return;
            }
        };
        let request = match serde_json::from_str::<Options>(options) {
            Ok(o) => build(client, url, o),
            Err(e) => Err(format!("fetch: bad options: {e}")),
        };
        let timeout = deadline.saturating_duration_since(Instant::now());
        runtime.spawn(async move {
            let result = match request {
                Ok(req) => match tokio::time::timeout(timeout, perform(req)).await {
                    Ok(r) => r,
                    Err(_) => Err("fetch: no reply before the script's deadline".to_owned()),
                },
                Err(e) => Err(e),
            };
            let _ = done.send(Completion { seq, id, result });
        });
    }
}

/// The canned answer for `url` (compared as written and as parsed, so `https://x.example` and
/// `https://x.example/` are one), as a completion's JSON text.
fn canned_answer(answers: &[CannedFetch], url: &reqwest::Url) -> Result<String, String> {
    let same = |canned: &str| {
        canned == url.as_str() || reqwest::Url::parse(canned).is_ok_and(|c| c == *url)
    };
    let Some(answer) = answers.iter().find(|a| same(&a.url)) else {
        return Err(format!(
            "fetch: no canned answer for {url} (a simulated call reaches no network: add this \
             URL to the scenario's fetch answers)"
        ));
    };
    let reason = reqwest::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    Ok(json!({
        "status": answer.status,
        "statusText": reason,
        "url": url.as_str(),
        "headers": {},
        "body": answer.body,
    })
    .to_string())
}

fn build(
    client: &reqwest::Client,
    url: reqwest::Url,
    o: Options,
) -> Result<reqwest::RequestBuilder, String> {
    let method = reqwest::Method::from_bytes(o.method.as_bytes())
        .map_err(|_| format!("fetch: `{}` is not an HTTP method", o.method))?;
    let mut req = client.request(method, url);
    for (name, value) in o.headers {
        // `Host` would pick another virtual host behind the allowed name; hop-by-hop headers
        // belong to the client.
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "proxy-authorization"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
        ) {
            return Err(format!(
                "fetch: the `{name}` header can't be set by a script"
            ));
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        req = req.header(name, value);
    }
    if let Some(body) = o.body {
        req = req.body(body);
    }
    Ok(req)
}

async fn perform(req: reqwest::RequestBuilder) -> Result<String, String> {
    // reqwest's errors quote the whole URL, query string (and any key in it) included.
    let mut resp = req
        .send()
        .await
        .map_err(|e| format!("fetch failed: {}", e.without_url()))?;
    let status = resp.status();
    let url = resp.url().to_string();
    let mut headers = serde_json::Map::new();
    for (name, value) in resp.headers() {
        headers.insert(
            name.as_str().to_owned(),
            String::from_utf8_lossy(value.as_bytes())
                .into_owned()
                .into(),
        );
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("fetch: reading the body failed: {e}"))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!(
                "fetch: the response body is larger than {MAX_BODY} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(json!({
        "status": status.as_u16(),
        "statusText": status.canonical_reason().unwrap_or(""),
        "url": url,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    })
    .to_string())
}
