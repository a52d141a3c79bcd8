//! The emulator's map routes over real HTTP: versions in the listing, a version switch followed
//! through `Status/{id}`, keys through `FieldMappings`, prerequisites, pause and resume of several
//! maps in one request, and strict bodies (unknown members are `400`).

use std::time::Duration;

use dwlink_core::fixture;
use dwlink_emulator::{self as emulator, Options};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const WORLD: &str = r#"
finance_operations:
  - url: https://contoso-uat.sandbox.operations.dynamics.com
    environment_type: sandbox
    power_platform_link: https://contoso-uat.crm.dynamics.com
    dual_write:
      connected_to: https://contoso-uat.crm.dynamics.com
      maps:
        - {name: Customers V3 (accounts), state: stopped, versions: [1.0.0.1, 1.0.0.2], prerequisites: [Legal entities (cdm_companies)], fails_on_version: 1.0.0.1}
        - {name: Legal entities (cdm_companies), state: running, integration_keys: [cdm_companyid]}
dataverse:
  - url: https://contoso-uat.crm.dynamics.com
    organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10
    unique_name: org6459f7a8
clients:
  - {tenant_id: 72f988bf-0000-0000-0000-000000000000, client_id: 11111111-2222-3333-4444-555555555555, secret: emulator-secret}
async_ms: 10
"#;

struct T {
    emu: emulator::RunningEmulator,
    http: Client,
    token: String,
}

impl T {
    async fn start() -> T {
        let f = fixture::parse_str("maps.yaml", WORLD).unwrap_or_else(|_| panic!("fixture"));
        let emu = emulator::spawn(f, Options::default()).await.expect("spawn");
        let http = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let r: Value = http
            .post(format!(
                "{}/72f988bf-0000-0000-0000-000000000000/oauth2/v2.0/token",
                emu.url()
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-2222-3333-4444-555555555555"),
                ("client_secret", "emulator-secret"),
                ("scope", "https://IntegratorApp.com/.default"),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        let token = r["access_token"].as_str().expect("token").to_string();
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
        let r = b.send().await.expect("send");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, &format!("api/DualWriteManagement/1.0/{path}"), body)
            .await
    }

    async fn cid(&self) -> String {
        let (_, v) = self
            .api(
                Method::GET,
                "Environments?targetType=AX&identifier=contoso-uat.sandbox.operations.dynamics.com",
                None,
            )
            .await;
        v[0]["cid"].as_str().expect("cid").to_string()
    }

    async fn map(&self, cid: &str, name: &str) -> Value {
        let (_, v) = self
            .api(
                Method::GET,
                &format!("Entities?targetType=AX&cid={cid}"),
                None,
            )
            .await;
        v.as_array()
            .and_then(|a| a.iter().find(|m| m["detail"]["tName"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no map {name} in {v}"))
    }

    async fn wait(&self, reply: &Value) -> String {
        let id = reply["requestId"].as_str().expect("requestId").to_string();
        for _ in 0..300 {
            let (_, maps) = self.api(Method::GET, &format!("Status/{id}"), None).await;
            let state = maps[0]["detail"]["lastRequests"]
                .as_array()
                .and_then(|l| l.iter().find(|r| r["requestId"] == id.as_str()))
                .map(|r| r["state"].as_str().unwrap_or("").to_string())
                .expect("the request in lastRequests");
            if state != "1" {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("request {id} never ended");
    }
}

const CUSTOMERS: &str = "Customers V3 (accounts)";
const LEGAL: &str = "Legal entities (cdm_companies)";

#[tokio::test]
async fn versions_switch_through_status_and_a_failing_version_ends_in_error() {
    let t = T::start().await;
    let cid = t.cid().await;
    let m = t.map(&cid, CUSTOMERS).await;
    let d = &m["detail"];
    assert_eq!(
        d["template"]["version"],
        json!({"major": 1, "minor": 0, "build": 0, "revision": 2})
    );
    assert_eq!(d["templates"].as_array().map(Vec::len), Some(2));
    assert_eq!(m["rightEntity"]["name"], "accounts");
    let old = d["templates"][0]["id"].as_str().unwrap().to_string();
    let pid = d["pid"].as_str().unwrap().to_string();
    // The body is the template id as a JSON string.
    let path = format!("SolutionAware/{cid}/SwitchActive/{old}?pid={pid}");
    let (s, _) = t.api(Method::POST, &path, Some(json!({"id": old}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, r) = t.api(Method::POST, &path, Some(json!(old))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(t.wait(&r).await, "2");
    let m = t.map(&cid, CUSTOMERS).await;
    assert_eq!(m["detail"]["template"]["version"]["revision"], 1);
    assert_eq!(m["detail"]["tid"], old.as_str());

    // On 1.0.0.1, which does not run here, a start ends in Error.
    let body = json!({"action": "1", "details": [{"tid": old, "pid": pid, "cid": cid}]});
    let (_, r) = t.api(Method::POST, "Start", Some(body)).await;
    assert_eq!(t.wait(&r).await, "3");
}

#[tokio::test]
async fn keys_prerequisites_refresh_and_pause_resume_of_several_maps() {
    let t = T::start().await;
    let cid = t.cid().await;
    let legal = t.map(&cid, LEGAL).await;
    let customers = t.map(&cid, CUSTOMERS).await;
    let pid = legal["detail"]["pid"].as_str().unwrap().to_string();
    let (s, fm) = t
        .api(Method::GET, &format!("{pid}/FieldMappings"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let keys = &fm["environments"][0]["schemas"][0]["keys"][0];
    assert_eq!(keys["fields"], json!(["cdm_companyid"]));
    assert_eq!(keys["isIntegrationKey"], true);

    // Keys are set per dataset and table; an unknown member is refused.
    let (s, _) = t
        .call(
            Method::POST,
            "api/dataset/org6459f7a8/IntegrationKeys",
            Some(json!({"datasetName": "org6459f7a8", "integrationKeys": {"accounts": ["accountnumber"]}, "x": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t
        .call(
            Method::POST,
            "api/dataset/org6459f7a8/IntegrationKeys",
            Some(json!({"datasetName": "org6459f7a8", "integrationKeys": {"accounts": ["accountnumber"]}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let cpid = customers["detail"]["pid"].as_str().unwrap().to_string();
    let (_, fm) = t
        .api(Method::GET, &format!("{cpid}/FieldMappings"), None)
        .await;
    assert_eq!(
        fm["environments"][0]["schemas"][0]["keys"][0]["fields"],
        json!(["accountnumber"])
    );
    let name = fm["name"].as_str().unwrap();
    let refresh = format!("api/Project/{name}/Refresh");
    let (s, _) = t
        .call(Method::POST, &refresh, Some(json!({"tokens": [""]})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .call(
            Method::POST,
            &refresh,
            Some(json!({"tokens": [""], "all": true})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Prerequisites: item 0 lists Legal entities' template, then the map's own.
    let tid = customers["detail"]["tid"].as_str().unwrap().to_string();
    let (s, seq) = t
        .api(
            Method::POST,
            &format!("GetTemplatePrerequisiteSequences/{cid}"),
            Some(json!([tid])),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seq[0], json!([legal["detail"]["tid"], tid]));

    // Pause then resume both maps in one request each.
    let details = json!([
        {"tid": legal["detail"]["tid"], "pid": pid, "cid": cid},
        {"tid": tid, "pid": cpid, "cid": cid},
    ]);
    let (s, _) = t
        .api(
            Method::POST,
            "Start",
            Some(json!({"action": "4", "details": details})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "several maps only to pause or resume"
    );
    let (_, r) = t
        .api(
            Method::POST,
            "Start",
            Some(json!({"action": "5", "details": details})),
        )
        .await;
    assert_eq!(t.wait(&r).await, "2");
    assert_eq!(t.map(&cid, LEGAL).await["detail"]["state"], "5");
    assert_eq!(t.map(&cid, CUSTOMERS).await["detail"]["state"], "5");
    let (_, r) = t
        .api(
            Method::POST,
            "Start",
            Some(json!({"action": "6", "details": details})),
        )
        .await;
    assert_eq!(t.wait(&r).await, "2");
    assert_eq!(t.map(&cid, LEGAL).await["detail"]["state"], "4");
}
