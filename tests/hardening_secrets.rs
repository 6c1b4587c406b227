//! Secrets never show (issue 9, §4): with `/pivot` protected, a script that logs the pivot node
//! it built (its `voice_url` carries the pivot token, `/t/TOKEN/pivot/next`), prints the token
//! bare, throws an Error quoting it (the step's `detail`), and a request carrying secrets in its
//! parameters, leave
//! no credential in `GET /calls/{id}`, `GET /calls`, the store's file (read back after a restart
//! by a new server over the same data folder) or the server's log output.

use crate::common;
use crate::hardening_support;

use std::path::Path;

use common::{flows_dir, kazoo_form};
use hardening_support::ServerProcess;
use serde_json::{json, Value};

const PASSWORD: &str = "Pw-7f3k9Zq2xLm";
const PIVOT_TOKEN: &str = "pivot-tok-4411aa";
const ADMIN_TOKEN: &str = "adm-token-5521bb";
const UPLOAD_PASSWORD: &str = "upl-pass-9931cc";
const SECRETS: [&str; 4] = [PASSWORD, PIVOT_TOKEN, ADMIN_TOKEN, UPLOAD_PASSWORD];

const AUTH: &str = r#"
[auth]
pivot_user = "kazoo"
pivot_password = "Pw-7f3k9Zq2xLm"
pivot_token = "pivot-tok-4411aa"
admin_token = "adm-token-5521bb"

[recordings]
upload_user = "rec"
upload_password = "upl-pass-9931cc"
"#;

/// Logs its pivot node and the token alone; with `boom`, throws an Error quoting both; its
/// postCall throws quoting the token.
const LEAKY: &str = r#"
const pf = require('pivotforge');
const secret = (url) => url.split('/t/')[1].split('/')[0];
function postCall(event) {
  throw new Error('cannot post with ' + secret(pf.pivot('next').data.voice_url));
}
function main(data) {
  const node = pf.pivot('next');
  const url = node.data.voice_url;
  const password = secret(url);
  console.log('built', JSON.stringify(node));
  console.warn('the password is ' + password + ', reversed ' + password.split('').reverse().join(''));
  if (data.boom) throw new Error('could not reach ' + url + ' (password ' + password + ')');
  return node;
}
"#;

fn basic() -> String {
    use base64::Engine as _;
    let pair = format!("kazoo:{PASSWORD}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

async fn pivot(server: &ServerProcess, params: &Value) -> common::Reply {
    let response = common::client()
        .post(server.url("/pivot/leaky"))
        .header("Authorization", basic())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(kazoo_form(params))
        .send()
        .await
        .expect("pivot request");
    reply(response).await
}

async fn admin_get(server: &ServerProcess, path: &str) -> common::Reply {
    let response = common::client()
        .get(server.url(path))
        .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .expect("admin request");
    reply(response).await
}

async fn reply(response: reqwest::Response) -> common::Reply {
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body").to_vec();
    common::Reply {
        status,
        content_type: None,
        body,
    }
}

/// Panics when `text` (what `what` showed) holds any configured secret.
fn assert_clean(text: &str, what: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret:?}: {text}"
        );
    }
}

/// Every file under `dir`, as bytes, searched for the secrets.
fn assert_files_clean(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read data dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            assert_files_clean(&path);
            continue;
        }
        let bytes = std::fs::read(&path).expect("read data file");
        for secret in SECRETS {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{} holds the secret {secret:?}", path.display());
        }
    }
}

/// What `/calls` shows of the two calls, as text.
async fn shown(server: &ServerProcess) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in ["/calls/leak-1", "/calls/leak-2", "/calls"] {
        let reply = admin_get(server, path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        out.push((path.to_owned(), reply.text()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_show_in_calls_the_store_or_the_log() {
    let flows = flows_dir(&[("leaky.js", LEAKY), ("next.js", LEAKY)]);
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(flows.path(), data.path(), AUTH);

    // The tree itself carries the token: the PBX needs it for the next step.
    let sent = pivot(&server, &json!({"Call-ID": "leak-1"})).await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    assert!(
        sent.text()
            .contains(&format!("/t/{PIVOT_TOKEN}/pivot/next")),
        "the PBX gets the credential: {}",
        sent.text()
    );
    // A request that carries secrets in parameters, and a script that throws quoting one.
    let params = json!({
        "Call-ID": "leak-2",
        "boom": "1",
        "Note": format!("token {PIVOT_TOKEN} and {ADMIN_TOKEN}, password {PASSWORD}"),
        "Custom-Application-Vars": {"upload": UPLOAD_PASSWORD},
    });
    let failed = pivot(&server, &params).await;
    assert_eq!(failed.status, 500, "{}", failed.text());
    // A post-call event whose postCall fails quoting the password: logged and kept for a retry.
    let event = common::client()
        .post(server.url("/events/leaky"))
        .header("Authorization", basic())
        .json(&json!({"hook_event": "channel_destroy", "call_id": "leak-1"}))
        .send()
        .await
        .expect("event");
    assert!(event.status().is_success(), "{}", event.status());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.output_text().contains("postCall failed") {
        assert!(std::time::Instant::now() < deadline, "postCall never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let live = shown(&server).await;
    let step = serde_json::from_str::<Value>(&live[1].1).unwrap();
    let step = &step["steps"][0];
    // What is shown is masked, not dropped: the step still says what happened.
    assert!(
        step["detail"].as_str().unwrap().contains("(password ***)"),
        "{step}"
    );
    assert!(
        step["logs"][1]["message"]
            .as_str()
            .unwrap()
            .contains("is ***"),
        "{step}"
    );
    assert_eq!(
        step["request"]["Note"], "token *** and ***, password ***",
        "{step}"
    );
    for (path, text) in &live {
        assert_clean(text, path);
    }
    let log = server.stop();
    assert!(log.contains("pivot"), "the server logged its steps: {log}");
    assert_clean(&log, "the server's log output");
    assert_files_clean(data.path());

    // After a restart, the stored steps are what `/calls` reads.
    let again = ServerProcess::start(flows.path(), data.path(), AUTH);
    let stored = shown(&again).await;
    let step = serde_json::from_str::<Value>(&stored[0].1).unwrap();
    assert_eq!(step["steps"].as_array().map(Vec::len), Some(1), "{step}");
    assert_eq!(step["steps"][0]["logs"].as_array().map(Vec::len), Some(2));
    for (path, text) in &stored {
        assert_clean(text, &format!("{path} after a restart"));
    }
    drop(again);
}
