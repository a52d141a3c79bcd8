//! The emulated reset honours its body: it relinks to the Dataverse environment the body names
//! (the current one or the Power Platform link), refuses any other with 400, and takes
//! `reset_ms`, its effect visible from the start of that time or only at its end.

use std::time::Duration;

use dwlink_core::fixture;
use dwlink_emulator::{self as emulator, Options, RunningEmulator};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const TENANT: &str = "72f988bf-0000-0000-0000-000000000000";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const FO: &str = "contoso-uat.sandbox.operations.dynamics.com";

struct T {
    emu: RunningEmulator,
    http: Client,
    token: String,
}

impl T {
    async fn start(extra: &str, options: Options) -> T {
        let text = format!("{}\n{extra}\n", fixture::QUICKSTART);
        let f = fixture::parse_str("reset.yaml", &text).unwrap_or_else(|p| panic!("{:?}", p.0));
        let emu = emulator::spawn(f, options).await.expect("spawn");
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let r: Value = http
            .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", "emulator-secret"),
                ("scope", "https://IntegratorApp.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["access_token"].as_str().unwrap().to_string();
        T { emu, http, token }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut b = self
            .http
            .request(method, format!("{}/{path}", self.emu.url()))
            .header("Host", "dws.example")
            .bearer_auth(&self.token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.unwrap();
        let s = r.status();
        let text = r.text().await.unwrap();
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The lookup's `cid` and the connection set read by the lookup's `cname`.
    async fn set(&self) -> (String, Value) {
        let (_, v) = self
            .call(
                Method::GET,
                &format!("api/DualWriteManagement/1.0/Environments?targetType=AX&identifier={FO}"),
                None,
            )
            .await;
        let cid = v[0]["cid"].as_str().unwrap().to_string();
        let cname = v[0]["cname"].as_str().unwrap();
        let (_, set) = self
            .call(Method::GET, &format!("api/ConnectionSet/{cname}"), None)
            .await;
        (cid, set)
    }

    async fn linked(&self) -> String {
        let (_, set) = self.set().await;
        crm(&set)["directUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn reset(&self, cid: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("api/ConnectionSet/{cid}/Reset?targetType=AX&forceReset=True"),
            Some(body),
        )
        .await
    }
}

fn crm(set: &Value) -> &Value {
    set["environments"]
        .as_object()
        .and_then(|m| m.values().find(|e| e["targetType"] == "CRM"))
        .expect("CRM entry")
}

fn ax(set: &Value) -> Value {
    let e = set["environments"]
        .as_object()
        .and_then(|m| m.values().find(|e| e["targetType"] == "AX"))
        .expect("AX entry");
    json!({"targetType": "AX", "name": e["name"], "isDevInstance": false, "directUrl": e["directUrl"]})
}

/// A body whose CRM entry names the organization at `url` with unique name `name`.
fn body(set: &Value, name: &str, url: &str, environment: Option<&str>) -> Value {
    let mut crm =
        json!({"targetType": "CRM", "name": name, "isDevInstance": false, "directUrl": url});
    let mut b = json!({"environments": [], "legalEntities": ["USMF"]});
    if let Some(e) = environment {
        crm["id"] = json!(e);
        b["powerAppsEnvironmentName"] = json!(e);
    }
    b["environments"] = json!([crm, ax(set)]);
    b
}

#[tokio::test]
async fn the_reset_relinks_to_the_environment_its_body_names() {
    let t = T::start("async_ms: 20", Options::default()).await;
    let (cid, set) = t.set().await;
    // DWA's own body: the current CRM entry as the connection set shows it.
    let current = crm(&set).clone();
    let dwa = json!({"powerAppsEnvironmentName": current["powerAppsEnvironment"],
        "environments": [{"targetType": "CRM", "name": current["name"], "id": current["powerAppsEnvironment"],
            "displayName": current["environmentDisplayName"], "isDevInstance": false, "directUrl": current["directUrl"]}, ax(&set)],
        "legalEntities": ["USMF"]});
    // Neither the current organization nor the Power Platform link: refused, nothing changes.
    let (s, v) = t
        .reset(
            &cid,
            body(&set, "other", "https://contoso-test.crm.dynamics.com", None),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "InvalidResetTarget", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contoso-test"),
        "{v}"
    );
    // Members that name two environments at once: refused.
    let (s, v) = t
        .reset(
            &cid,
            body(
                &set,
                "org6459f7a8",
                "https://contoso-prod.crm.dynamics.com",
                None,
            ),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two Dataverse environments"),
        "{v}"
    );
    assert_eq!(t.linked().await, "https://contoso-prod.crm.dynamics.com");
    // The Power Platform link, named by its unique name and URL.
    let (s, v) = t
        .reset(
            &cid,
            body(
                &set,
                "org6459f7a8",
                "https://contoso-uat.crm.dynamics.com",
                None,
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(t.linked().await, "https://contoso-uat.crm.dynamics.com");
    // Now the current organization is the link; the old one is neither: refused.
    let (s, _) = t.reset(&cid, dwa.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    t.emu.shutdown().await;

    // Scenario 2 with DWA's body: the current organization is kept.
    let t = T::start("async_ms: 20", Options::default()).await;
    let (s, v) = t.reset(&cid, dwa).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(t.linked().await, "https://contoso-prod.crm.dynamics.com");
    let (_, set) = t.set().await;
    assert_eq!(
        set["dualWriteDetail"]["legalEntityMappings"]["mappings"][0]["left"]["name"],
        "USMF"
    );
    t.emu.shutdown().await;
}

/// `reset_ms`: the answer comes that long after the POST; the effect shows from the start of
/// that time (`reset_effect: start`) or only with the answer (`end`). Reads during the reset
/// are compared with what they show after it, not with a clock.
#[tokio::test]
async fn a_reset_takes_reset_ms_and_shows_its_effect_at_the_start_or_the_end() {
    for (effect, options) in [
        ("start", Options::default()),
        (
            "end",
            Options {
                reset_effect: Some(fixture::ResetEffect::End),
                ..Options::default()
            },
        ),
    ] {
        let extra = if effect == "start" {
            "reset_ms: 1500\nreset_effect: start"
        } else {
            "reset_ms: 100"
        };
        let mut options = options;
        if effect == "end" {
            options.reset_ms = Some(1500);
        }
        let t = T::start(extra, options).await;
        let (cid, set) = t.set().await;
        let uat = body(
            &set,
            "org6459f7a8",
            "https://contoso-uat.crm.dynamics.com",
            None,
        );
        let mut during = Vec::new();
        let answered = {
            let post = t.reset(&cid, uat);
            tokio::pin!(post);
            loop {
                tokio::select! {
                    r = &mut post => break r,
                    l = t.linked() => during.push(l),
                }
            }
        };
        assert_eq!(answered.0, StatusCode::OK, "{effect}: {}", answered.1);
        assert_eq!(t.linked().await, "https://contoso-uat.crm.dynamics.com");
        let seen_new = during.iter().any(|l| l.contains("contoso-uat"));
        match effect {
            "start" => assert!(seen_new, "start: {during:?}"),
            _ => assert!(
                !seen_new && during.iter().any(|l| l.contains("contoso-prod")),
                "end: {during:?}"
            ),
        }
        t.emu.shutdown().await;
    }
}

/// A fixture that says nothing of resets loads as before and answers after `async_ms`.
#[tokio::test]
async fn fixtures_without_the_new_keys_load_unchanged() {
    for f in std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/fixtures"
    ))
    .unwrap()
    {
        let path = f.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            fixture::load(&path).unwrap_or_else(|p| panic!("{}: {:?}", path.display(), p.0));
        }
    }
}
