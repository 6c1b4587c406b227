//! Rule matching over HTTP: `match` on request parameters (equals, lists, prefix, regex,
//! missing), several conditions that must all hold, and first match wins.

use crate::common;

use common::{assert_tree, at, flows_dir, get, post_json, serve};
use serde_json::{json, Value};

const FLOW: &str = r#"description = "Routing on request parameters"
timezone = "America/New_York"

[[rule]]
name = "vip"
match = { "Caller-ID-Number" = ["+14155550100", "+14155550101"] }
reply = { module = "tts", data = { text = "vip" } }

[[rule]]
name = "uk"
match = { "Caller-ID-Number" = { prefix = ["+44", "0044"] } }
reply = { module = "tts", data = { text = "uk" } }

[[rule]]
name = "pin ok"
match = { "Digits.pin" = { regex = '^[0-9]{4}$' }, "Custom-Application-Vars.stage" = "pin" }
reply = { module = "tts", data = { text = "pin ok" } }

[[rule]]
name = "pin wrong"
match = { "Custom-Application-Vars.stage" = { equals = "pin" } }
reply = { module = "tts", data = { text = "pin wrong" } }

[[rule]]
name = "anonymous"
match = { "Caller-ID-Number" = { missing = true } }
reply = { module = "tts", data = { text = "anonymous" } }

[[rule]]
name = "owner"
match = { "User-ID" = "u-boss" }
reply = { module = "tts", data = { text = "boss" } }

[[rule]]
name = "sales on weekdays"
weekdays = "mon-fri"
match = { "Request" = { regex = "55$", missing = false } }
reply = { module = "tts", data = { text = "sales" } }

[default]
module = "tts"
data = { text = "other" }
"#;

fn says(text: &str) -> Value {
    json!({"module": "tts", "data": {"text": text}})
}

const TUESDAY: &str = "2026-11-17T12:00:00-05:00";
const SATURDAY: &str = "2026-11-21T12:00:00-05:00";

async fn check(instant: &str, cases: &[(&str, &str)]) {
    let dir = flows_dir(&[("route.toml", FLOW)]);
    let server = serve(dir.path(), at(instant));
    for (query, expected) in cases {
        let reply = get(&server.url(&format!("/pivot/route?{query}"))).await;
        assert_tree(&reply, &says(expected), query);
    }
}

#[tokio::test]
async fn equals_prefix_regex_and_missing() {
    check(
        TUESDAY,
        &[
            ("Caller-ID-Number=%2B14155550100", "vip"),
            ("Caller-ID-Number=%2B14155550101", "vip"),
            ("Caller-ID-Number=%2B14155550102", "other"),
            ("Caller-ID-Number=%2B442071234567", "uk"),
            ("Caller-ID-Number=00442071234567", "uk"),
            ("Caller-ID-Number=442071234567", "other"),
            ("", "anonymous"),
            ("Caller-ID-Number=", "anonymous"),
            ("Caller-ID-Number=%2B12125550199&User-ID=u-boss", "boss"),
            (
                "Caller-ID-Number=%2B12125550199&User-ID[]=u-boss&User-ID[]=u-2",
                "boss",
            ),
            (
                "Caller-ID-Number=%2B12125550199&User-ID[]=u-2&User-ID[]=u-boss",
                "other",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn every_condition_of_a_rule_must_hold() {
    let stage = "Caller-ID-Number=%2B12125550199&Custom-Application-Vars[stage]=pin";
    check(
        TUESDAY,
        &[
            (&format!("{stage}&Digits[pin]=1234"), "pin ok"),
            (&format!("{stage}&Digits[pin]=12345"), "pin wrong"),
            (&format!("{stage}&Digits[pin]=12a4"), "pin wrong"),
            (stage, "pin wrong"),
            // The regex holds but the other condition does not.
            ("Caller-ID-Number=%2B12125550199&Digits[pin]=1234", "other"),
            // A regex is unanchored unless written with ^ or $.
            ("Caller-ID-Number=%2B12125550199&Request=2055", "sales"),
            ("Caller-ID-Number=%2B12125550199&Request=5512", "other"),
        ],
    )
    .await;
    // The weekday condition of the same rule.
    check(
        SATURDAY,
        &[("Caller-ID-Number=%2B12125550199&Request=2055", "other")],
    )
    .await;
}

#[tokio::test]
async fn the_first_matching_rule_wins() {
    let dir = flows_dir(&[("route.toml", FLOW)]);
    let server = serve(dir.path(), at(TUESDAY));
    let url = server.url("/pivot/route");
    // vip, pin ok and sales all hold: vip comes first.
    let all = json!({
        "Caller-ID-Number": "+14155550100",
        "Custom-Application-Vars": {"stage": "pin"},
        "Digits": {"pin": "1234"},
        "Request": "2055"
    });
    assert_tree(&post_json(&url, &all).await, &says("vip"), "all rules hold");
    let no_vip = common::with(&all, &json!({"Caller-ID-Number": "+12125550199"}));
    assert_tree(
        &post_json(&url, &no_vip).await,
        &says("pin ok"),
        "pin before sales",
    );
}
