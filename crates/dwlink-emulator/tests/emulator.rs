//! The emulator over real HTTP on 127.0.0.1, driven with reqwest.

use std::time::Duration;

use dwlink_core::fixture::{self, Fixture};
use dwlink_emulator::{self as emulator, FaultOptions, Options, RunningEmulator};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const TENANT: &str = "72f988bf-0000-0000-0000-000000000000";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const FO: &str = "contoso-uat.sandbox.operations.dynamics.com";
const UAT: &str = "contoso-uat.crm.dynamics.com";

fn fixture(yaml: &str) -> Fixture {
    match fixture::parse_str("test.yaml", yaml) {
        Ok(f) => f,
        Err(p) => panic!(
            "fixture: {:?}",
            p.0.iter().map(|p| &p.message).collect::<Vec<_>>()
        ),
    }
}

fn quickstart() -> Fixture {
    fixture(fixture::QUICKSTART)
}

/// Two F&O environments (so Host matters), one per reset scenario, plus two organizations.
const WORLD: &str = r#"
finance_operations:
  - url: https://contoso-uat.sandbox.operations.dynamics.com
    environment_type: sandbox
    power_platform_link: https://contoso-uat.crm.dynamics.com
    dual_write:
      connected_to: https://contoso-prod.crm.dynamics.com
      legal_entities: [USMF]
      maps: [{name: Customers V3 (accounts), state: running}]
    key_tables:
      DualWriteProjectConfiguration: {generate: 12}
      BusinessEventsDefinition: {generate: 10, dual_write: 4}
  - url: https://same.sandbox.operations.dynamics.com
    environment_type: sandbox
    power_platform_link: https://contoso-uat.crm.dynamics.com
    dual_write: {connected_to: https://contoso-uat.crm.dynamics.com, maps: [{name: Vendors V2 (msdyn_vendors), state: stopped}]}
  - url: https://blank.sandbox.operations.dynamics.com
    environment_type: sandbox
    power_platform_link: null
    dual_write: {connected_to: https://contoso-uat.crm.dynamics.com}
  - url: https://dev.cloudax.dynamics.com
    environment_type: cloud-hosted
    dual_write: {connected_to: https://contoso-dev.crm.dynamics.com}
dataverse:
  - url: https://contoso-uat.crm.dynamics.com
    organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10
    friendly_name: ContosoUAT
    runtime_configurations: {generate: 5, secure_config_organization: ContosoProd}
  - url: https://contoso-dev.crm.dynamics.com
    organization_id: 5f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b11
    runtime_configurations: {generate: 3}
clients:
  - {tenant_id: 72f988bf-0000-0000-0000-000000000000, client_id: 11111111-2222-3333-4444-555555555555, secret: emulator-secret}
async_ms: 20
"#;

struct T {
    emu: RunningEmulator,
    http: Client,
    token: String,
    /// For the management service, which takes only `https://IntegratorApp.com` tokens.
    dws_token: String,
}

impl T {
    async fn start(f: Fixture, options: Options) -> T {
        let emu = emulator::spawn(f, options).await.expect("spawn");
        let http = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let mut t = T {
            emu,
            http,
            token: String::new(),
            dws_token: String::new(),
        };
        t.token = t.token_for("https://x/.default").await;
        t.dws_token = t.token_for("https://IntegratorApp.com/.default").await;
        t
    }

    async fn token_for(&self, scope: &str) -> String {
        let r: Value = self
            .http
            .post(format!("{}/{TENANT}/oauth2/v2.0/token", self.emu.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", "emulator-secret"),
                ("scope", scope),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        r["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    fn req(&self, method: reqwest::Method, host: &str, path: &str) -> reqwest::RequestBuilder {
        let dws =
            path.starts_with("/api/DualWriteManagement/") || path.starts_with("/api/ConnectionSet");
        self.http
            .request(method, format!("{}{path}", self.emu.url()))
            .header("Host", host)
            .bearer_auth(if dws { &self.dws_token } else { &self.token })
    }

    async fn get(&self, host: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .req(reqwest::Method::GET, host, path)
            .send()
            .await
            .expect("send");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, b: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = b.send().await.expect("send");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn dws(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = self.req(
            method,
            "dws.example",
            &format!("/api/DualWriteManagement/1.0/{path}"),
        );
        if let Some(body) = body {
            b = b.json(&body);
        }
        self.send(b).await
    }

    /// A gateway-root route (`api/ConnectionSet/…`).
    async fn root(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = self.req(method, "dws.example", &format!("/{path}"));
        if let Some(body) = body {
            b = b.json(&body);
        }
        self.send(b).await
    }

    /// Poll `Status/{id}` until the map request leaves Waiting (`1`).
    async fn wait(&self, request: &Value) -> String {
        let id = request["requestId"]
            .as_str()
            .expect("requestId")
            .to_string();
        for _ in 0..200 {
            let (_, maps) = self
                .dws(reqwest::Method::GET, &format!("Status/{id}"), None)
                .await;
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
        panic!("request {id} never completed");
    }

    async fn wait_solution(&self, cid: &str, request: &Value) -> String {
        let id = request["requestId"].as_str().expect("requestId");
        for _ in 0..200 {
            let (_, s) = self
                .dws(
                    reqwest::Method::GET,
                    &format!("SolutionAware/{cid}/Status/{id}"),
                    None,
                )
                .await;
            if s["state"] != "1" {
                return s["state"].as_str().unwrap_or("").to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("solution request {id} never completed");
    }

    /// The connection set of an F&O host, found the way DWA finds it.
    async fn connection(&self, fo: &str) -> Value {
        let (_, v) = self
            .dws(
                reqwest::Method::GET,
                &format!("Environments?targetType=AX&identifier={fo}"),
                None,
            )
            .await;
        let cname = v[0]["cname"].as_str().expect("cname").to_string();
        let (_, c) = self
            .root(
                reqwest::Method::GET,
                &format!("api/ConnectionSet/{cname}"),
                None,
            )
            .await;
        c
    }

    async fn maps(&self, cid: &str) -> Value {
        self.dws(
            reqwest::Method::GET,
            &format!("Entities?targetType=AX&cid={cid}"),
            None,
        )
        .await
        .1
    }
}

/// The environment of a connection set of the given target type.
fn env_of<'a>(c: &'a Value, target: &str) -> &'a Value {
    c["environments"]
        .as_object()
        .and_then(|m| m.values().find(|e| e["targetType"] == target))
        .expect("environment")
}

/// Microsoft's reset payload (DWA `ResetLinkEngine.cs`) for a connection set.
fn reset_body(c: &Value, les: &[&str]) -> Value {
    let entry = |e: &Value| {
        json!({"targetType": e["targetType"], "name": e["name"], "displayName": e["environmentDisplayName"],
               "isDevInstance": e["isDevInstance"], "directUrl": e["directUrl"]})
    };
    json!({"powerAppsEnvironmentName": env_of(c, "CRM")["powerAppsEnvironment"],
           "environments": [entry(env_of(c, "CRM")), entry(env_of(c, "AX"))],
           "legalEntities": les})
}

/// The body naming another Dataverse environment than the current one, as dwlink sends it for
/// `reset_target: power-platform-link` (the environment's unique name and URL; no
/// `powerAppsEnvironment` needed).
fn reset_body_to(c: &Value, les: &[&str], url: &str, unique_name: &str) -> Value {
    let mut body = reset_body(c, les);
    body.as_object_mut()
        .unwrap()
        .remove("powerAppsEnvironmentName");
    body["environments"][0] = json!({"targetType": "CRM", "name": unique_name,
        "displayName": unique_name, "isDevInstance": false, "directUrl": url});
    body
}

fn legal_entities(c: &Value) -> Vec<String> {
    c["dualWriteDetail"]["legalEntityMappings"]["mappings"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| x["left"]["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn count(v: &Value) -> usize {
    v["value"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn pages_filters_selects_and_counts() {
    let t = T::start(quickstart(), Options::default()).await;
    // 120 project rows at 50 a page: three pages, the last one short.
    let mut url = "/data/DualWriteProjectConfigurations?cross-company=true&$count=true".to_string();
    let (mut pages, mut rows) = (0, 0);
    loop {
        let r = t
            .req(reqwest::Method::GET, FO, &url)
            .header("Prefer", "odata.maxpagesize=50")
            .send()
            .await
            .expect("get");
        assert_eq!(
            r.headers()
                .get("preference-applied")
                .and_then(|v| v.to_str().ok()),
            Some("odata.maxpagesize=50")
        );
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["@odata.count"], 120);
        pages += 1;
        rows += count(&v);
        match v["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&format!("http://{FO}/data/")), "{next}");
                url = next.trim_start_matches(&format!("http://{FO}")).to_string();
            }
            None => break,
        }
    }
    assert_eq!((pages, rows), (3, 120));

    let (s, v) = t.get(FO, "/data/DualWriteProjectConfigurations?$filter=IsDebugMode eq 'No' and (InternalEntityName eq 'Customers V3' or InternalEntityName eq 'Vendors V2')&$select=ProjectName,IsDebugMode").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(count(&v), 30);
    for row in v["value"].as_array().into_iter().flatten() {
        assert_eq!(row["IsDebugMode"], "No", "NoYes is sent as its member name");
        assert!(
            row.get("InternalEntityName").is_none(),
            "$select keeps only the named columns"
        );
    }
    let (_, v) = t
        .get(FO, "/data/DualWriteProjectConfigurations?$top=7")
        .await;
    assert_eq!(count(&v), 7);
    assert!(v.get("@odata.nextLink").is_none());
    // $top larger than a page: paging carries the remainder.
    let (_, v) = t
        .send(
            t.req(
                reqwest::Method::GET,
                FO,
                "/data/DualWriteProjectConfigurations?$top=15",
            )
            .header("Prefer", "odata.maxpagesize=10"),
        )
        .await;
    let next = v["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .trim_start_matches(&format!("http://{FO}"))
        .to_string();
    let (_, v2) = t.get(FO, &next).await;
    assert_eq!((count(&v), count(&v2)), (10, 5));

    // OData's "no metadata" level: no context, no ETags, but the nextLink and the count stay.
    let (_, v) = t
        .send(
            t.req(
                reqwest::Method::GET,
                FO,
                "/data/DualWriteProjectConfigurations?$top=15&$count=true",
            )
            .header("Accept", "application/json;odata.metadata=none")
            .header("Prefer", "odata.maxpagesize=10"),
        )
        .await;
    assert!(v.get("@odata.context").is_none(), "{v}");
    assert!(v["@odata.nextLink"].is_string() && v["@odata.count"].is_number());
    assert!(v["value"][0].get("@odata.etag").is_none());
    assert!(v["value"][0]["ProjectName"].is_string());

    // The fixture's SecureConfig organization is kept, but no column serves it.
    let (s, _) = t.get(UAT, "/api/data/v9.2/msdyn_dualwriteruntimeconfigs?$filter=msdyn_secureconfigorganization eq 'contosoprod'").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, v) = t
        .get(
            UAT,
            "/api/data/v9.2/msdyn_dualwriteruntimeconfigs?$filter=statecode eq 0&$count=true",
        )
        .await;
    assert_eq!(v["@odata.count"], 12);
    let id = v["value"][0]["msdyn_dualwriteruntimeconfigid"]
        .as_str()
        .expect("id")
        .to_string();
    let (s, one) = t
        .get(
            UAT,
            &format!("/api/data/v9.2/msdyn_dualwriteruntimeconfigs({id})"),
        )
        .await;
    assert_eq!(
        (s, one["msdyn_dualwriteruntimeconfigid"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let (_, v) = t.get(UAT, &format!("/api/data/v9.2/msdyn_dualwriteruntimeconfigs?$filter=msdyn_dualwriteruntimeconfigid eq {}", id.to_uppercase())).await;
    assert_eq!(count(&v), 1, "GUID literals compare case-insensitively");
    t.emu.shutdown().await;
}

#[tokio::test]
async fn dataverse_metadata_routes() {
    let t = T::start(quickstart(), Options::default()).await;
    let (_, v) = t.get(UAT, "/api/data/v9.2/EntityDefinitions?$filter=LogicalName eq 'msdyn_dualwriteruntimeconfig'&$select=LogicalName,EntitySetName").await;
    assert_eq!(
        v["value"][0]["EntitySetName"],
        "msdyn_dualwriteruntimeconfigs"
    );
    let (_, v) = t.get(UAT, "/api/data/v9.2/EntityDefinitions(LogicalName='msdyn_dualwriteruntimeconfig')?$select=EntitySetName,PrimaryIdAttribute").await;
    assert_eq!(v["PrimaryIdAttribute"], "msdyn_dualwriteruntimeconfigid");
    let (_, v) = t.get(UAT, "/api/data/v9.2/WhoAmI").await;
    assert_eq!(v["OrganizationId"], "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10");
    let (_, v) = t.get(UAT, "/api/data/v9.2/organizations").await;
    assert_eq!(v["value"][0]["name"], "ContosoUAT");
    // `uniquename` is not a column of organization: the real service refuses it.
    let (s, v) = t
        .get(
            UAT,
            "/api/data/v9.2/organizations?$select=organizationid,name,uniquename",
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BadRequest"))
    );
    let (s, v) = t.get(UAT, "/api/data/v9.2/RetrieveCurrentOrganization(AccessType=@p1)?@p1=Microsoft.Dynamics.CRM.EndpointAccessType'Default'").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = &v["Detail"];
    assert_eq!(d["OrganizationId"], "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10");
    assert_eq!(
        (d["FriendlyName"].as_str(), d["UrlName"].as_str()),
        (Some("ContosoUAT"), Some("contoso-uat"))
    );
    assert!(
        d["UniqueName"].is_string() && d["EnvironmentId"].is_string() && d["TenantId"].is_string()
    );
    for bad in [
        "RetrieveCurrentOrganization(AccessType=@p1)",
        "RetrieveCurrentOrganization(AccessType=@p1)?@p1=Microsoft.Dynamics.CRM.EndpointAccessType'Elsewhere'",
        "RetrieveCurrentOrganization(AccessType='Default')",
        "RetrieveCurrentOrganization(Kind=@p1)?@p1=x",
    ] {
        let (s, _) = t.get(UAT, &format!("/api/data/v9.2/{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, v) = t.get(UAT, "/api/data/v9.2/EntityDefinitions(LogicalName='msdyn_dualwriteruntimeconfig')/Attributes?$select=LogicalName,AttributeType").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|a| a["LogicalName"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "msdyn_dualwriteruntimeconfigid",
            "msdyn_externalentityname",
            "msdyn_internalentityname",
            "msdyn_name",
            "msdyn_status",
            "msdyn_unsecure",
            "statecode"
        ]
    );
    for (path, want) in [
        ("EntityDefinitions(LogicalName='account')/Attributes", StatusCode::NOT_FOUND),
        ("EntityDefinitions(LogicalName='msdyn_dualwriteruntimeconfig')/Keys", StatusCode::NOT_FOUND),
        ("EntityDefinitions(LogicalName='msdyn_dualwriteruntimeconfig')/Attributes?$select=Bogus", StatusCode::BAD_REQUEST),
        ("WhoAmI()/Attributes", StatusCode::NOT_FOUND),
    ] {
        let (s, _) = t.get(UAT, &format!("/api/data/v9.2/{path}")).await;
        assert_eq!(s, want, "{path}");
    }
    // ContosoUAT is contoso-uat's Power Platform link; ContosoProd is contoso-prod's.
    let (s, v) = t
        .get(
            UAT,
            "/api/data/v9.2/RetrieveFinanceAndOperationsIntegrationDetails",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["Url"],
        "https://contoso-uat.sandbox.operations.dynamics.com"
    );
    assert_eq!(v["TenantId"], TENANT);
    assert!(v["Id"].is_string());
    // An unknown host with a single organization still reaches it (third-party clients).
    let (s, _) = t.get("127.0.0.1", "/api/data/v9.2/WhoAmI").await;
    assert_eq!(s, StatusCode::OK);
    t.emu.shutdown().await;
    // No F&O environment names contoso-dev as its Power Platform link: the documented error.
    let t = T::start(fixture(WORLD), Options::default()).await;
    let (s, v) = t
        .get(
            "contoso-dev.crm.dynamics.com",
            "/api/data/v9.2/RetrieveFinanceAndOperationsIntegrationDetails",
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("0x80048d0b"))
    );
    t.emu.shutdown().await;
}

#[tokio::test]
async fn fo_serves_only_its_public_sets_and_says_so_in_metadata() {
    let t = T::start(quickstart(), Options::default()).await;
    let r = t
        .req(reqwest::Method::GET, FO, "/data/$metadata")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let xml = r.text().await.expect("text");
    for want in [
        "<EntitySet Name=\"DualWriteProjectConfigurations\"",
        "<Key><PropertyRef Name=\"ProjectName\"/></Key>",
        "<Property Name=\"ExternalEnvironmentUrl\" Type=\"Edm.String\"/>",
        "<Property Name=\"StorageAccountSASConnectionString\"",
        "<Property Name=\"Status\" Type=\"Microsoft.Dynamics.DataEntities.DualWriteProjectStatus\"/>",
        "<Property Name=\"IsDebugMode\" Type=\"Microsoft.Dynamics.DataEntities.NoYes\"/>",
        "<Member Name=\"Queueing\" Value=\"4\"/>",
    ] {
        assert!(xml.contains(want), "{want} in {xml}");
    }
    for absent in [
        "dataAreaId",
        "FieldConfiguration",
        "BusinessEvents",
        "ExternalEnvironmentURL",
    ] {
        assert!(!xml.contains(absent), "{absent} in {xml}");
    }
    // The seeded field configurations and business events exist, but not as OData sets.
    for set in [
        "DualWriteProjectFieldConfigurations",
        "BusinessEventsDefinitions",
    ] {
        let (s, v) = t.get(FO, &format!("/data/{set}?cross-company=true")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("NotFound")),
            "{set}"
        );
        let (s, _) = t
            .send(t.req(reqwest::Method::DELETE, FO, &format!("/data/{set}('x')")))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{set}");
    }
    for bad in [
        "$select=ExternalEnvironmentURL",
        "$select=dataAreaId",
        "$filter=dataAreaId eq 'usmf'",
    ] {
        let (s, _) = t
            .get(FO, &format!("/data/DualWriteProjectConfigurations?{bad}"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (_, v) = t
        .get(FO, "/data/DualWriteProjectConfigurations('DWP-0000000')")
        .await;
    assert_eq!(
        (v["Status"].as_str(), v["IsDelete"].as_str()),
        (Some("Enabled"), Some("No"))
    );
    assert!(
        v["AsyncMode"].is_null() && v.get("dataAreaId").is_none(),
        "{v}"
    );
    t.emu.shutdown().await;
}

#[tokio::test]
async fn crud_with_etags() {
    let t = T::start(quickstart(), Options::default()).await;
    let path = "/data/DualWriteProjectConfigurations('DWP-0000003')";
    let r = t
        .req(reqwest::Method::GET, FO, path)
        .send()
        .await
        .expect("get");
    let tag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_string();
    let (s, _) = t
        .send(
            t.req(reqwest::Method::PATCH, FO, path)
                .header("If-Match", "W/\"99\"")
                .json(&json!({"Status": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, _) = t
        .send(
            t.req(reqwest::Method::PATCH, FO, path)
                .header("If-Match", &tag)
                .json(&json!({"Status": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = t.get(FO, path).await;
    assert_eq!(
        (v["Status"].as_i64(), v["@odata.etag"].as_str()),
        (Some(2), Some("W/\"2\""))
    );
    let (s, _) = t
        .send(
            t.req(reqwest::Method::DELETE, FO, path)
                .header("If-Match", &tag),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::PRECONDITION_FAILED,
        "the old ETag no longer matches"
    );
    let (s, _) = t.send(t.req(reqwest::Method::DELETE, FO, path)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = t.get(FO, path).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    let (s, _) = t.send(t.req(reqwest::Method::DELETE, FO, path)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = t
        .get(
            FO,
            "/data/DualWriteProjectConfigurations?$count=true&$top=0",
        )
        .await;
    assert_eq!(v["@odata.count"], 119);

    // The names dwlink once guessed are not properties of the real set: 400.
    for old in [
        json!({"ProjectName": "Old", "ExternalEnvironmentURL": "https://x"}),
        json!({"ProjectName": "Old", "dataAreaId": "usmf"}),
    ] {
        let (s, v) = t
            .send(
                t.req(
                    reqwest::Method::POST,
                    FO,
                    "/data/DualWriteProjectConfigurations",
                )
                .json(&old),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    let row = json!({"ProjectName": "Restored", "InternalEntityName": "Customers V3", "ExternalEntityName": "accounts", "ExternalEnvironmentUrl": "https://x", "Status": "Disabled", "IsDebugMode": "No"});
    let r = t
        .req(
            reqwest::Method::POST,
            FO,
            "/data/DualWriteProjectConfigurations",
        )
        .header("Prefer", "return=representation")
        .json(&row)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("odata-entityid").is_some());
    let (s, _) = t
        .send(
            t.req(
                reqwest::Method::POST,
                FO,
                "/data/DualWriteProjectConfigurations",
            )
            .json(&row),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = t
        .send(
            t.req(
                reqwest::Method::POST,
                UAT,
                "/api/data/v9.2/msdyn_dualwriteruntimeconfigs",
            )
            .json(&json!({"msdyn_name": "new"})),
        )
        .await;
    assert_eq!((s, v), (StatusCode::NO_CONTENT, Value::Null));
    let (s, _) = t.get(FO, "/data/DualWriteProjectFieldConfigurations(ProjectName='DWP-0000001',InternalFieldName='Field0000020')").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no public OData set");
    t.emu.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_odata_errors() {
    let t = T::start(quickstart(), Options::default()).await;
    for (path, want) in [
        (
            "/data/DualWriteProjectConfigurations?$filter=ProjectName eq",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations?$filter=((((",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations?$filter=Nope eq 1",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations?$select=Nope",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations?$top=-1",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations?$skiptoken=zz",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations('x",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/data/DualWriteProjectConfigurations(a=)",
            StatusCode::BAD_REQUEST,
        ),
        ("/data/Nope", StatusCode::NOT_FOUND),
        ("/nothing/here", StatusCode::NOT_FOUND),
    ] {
        let (s, v) = t.get(FO, path).await;
        assert_eq!(s, want, "{path}");
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{path}: {v}"
        );
    }
    let p = "/data/DualWriteProjectConfigurations('DWP-0000001')";
    let (s, v) = t
        .send(
            t.req(reqwest::Method::PATCH, FO, p)
                .header("Content-Type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BadRequest"))
    );
    let (s, _) = t
        .send(
            t.req(reqwest::Method::PATCH, FO, p)
                .header("Content-Type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = t
        .send(
            t.req(reqwest::Method::POST, FO, "/data/$batch")
                .header("Content-Type", "application/json")
                .body("{}"),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = t
        .send(
            t.req(reqwest::Method::POST, FO, "/data/$batch")
                .header("Content-Type", "multipart/mixed; boundary=x")
                .body("garbage"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t
        .dws(
            reqwest::Method::POST,
            "api/ConnectionSet/dw-contoso-uat/Reset?forceReset=maybe",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the reset is at the gateway root");
    let (s, _) = t
        .root(
            reqwest::Method::POST,
            "api/ConnectionSet/dw-contoso-uat/Reset?targetType=AX&forceReset=maybe",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    t.emu.shutdown().await;
}

fn batch_body(parts: &[&str]) -> String {
    let mut b = String::new();
    for p in parts {
        b.push_str("--batch_1\r\n");
        b.push_str(p);
        b.push_str("\r\n");
    }
    b.push_str("--batch_1--\r\n");
    b
}

fn changeset(reqs: &[&str]) -> String {
    let mut b = String::from("Content-Type: multipart/mixed; boundary=cs_1\r\n\r\n");
    for (i, r) in reqs.iter().enumerate() {
        b.push_str(&format!("--cs_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{r}\r\n", i + 1));
    }
    b.push_str("--cs_1--");
    b
}

#[tokio::test]
async fn batch_change_sets_are_atomic() {
    let t = T::start(quickstart(), Options::default()).await;
    let del = |k: &str| format!("DELETE DualWriteProjectConfigurations('{k}') HTTP/1.1\r\n\r\n");
    // The second delete names a missing row: the first must come back.
    let failing = changeset(&[&del("DWP-0000001"), &del("missing")]);
    let good = changeset(&[&del("DWP-0000002"), &del("DWP-0000003")]);
    let get = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET DualWriteProjectConfigurations?$count=true&$top=0 HTTP/1.1\r\nAccept: application/json\r\n\r\n";
    let body = batch_body(&[&failing, &good, get]);
    let r = t
        .req(reqwest::Method::POST, FO, "/data/$batch")
        .header("Content-Type", "multipart/mixed; boundary=batch_1")
        .body(body)
        .send()
        .await
        .expect("batch");
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("multipart/mixed; boundary="), "{ct}");
    let text = r.text().await.expect("text");
    assert!(text.contains("HTTP/1.1 404 Not Found"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 204 No Content").count(), 2, "{text}");
    assert!(text.contains("\"@odata.count\":118"), "{text}");
    let (s, _) = t
        .get(FO, "/data/DualWriteProjectConfigurations('DWP-0000001')")
        .await;
    assert_eq!(s, StatusCode::OK, "the failed change set was rolled back");
    let (s, _) = t
        .get(FO, "/data/DualWriteProjectConfigurations('DWP-0000002')")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let many: Vec<String> = (0..1001).map(|i| format!("Content-Type: application/http\r\n\r\nGET DualWriteProjectConfigurations('DWP-{i:07}') HTTP/1.1\r\n\r\n")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (s, _) = t
        .send(
            t.req(reqwest::Method::POST, FO, "/data/$batch")
                .header("Content-Type", "multipart/mixed; boundary=batch_1")
                .body(batch_body(&many)),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "more than 1,000 requests");
    t.emu.shutdown().await;
}

#[tokio::test]
async fn auth_tokens_expire_and_refresh() {
    let options = Options {
        token_ttl_secs: Some(1),
        ..Options::default()
    };
    let t = T::start(quickstart(), options).await;
    let (s, _) = t
        .get(FO, "/data/DualWriteProjectConfigurations?$top=1")
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = t
        .http
        .get(format!(
            "{}/data/DualWriteProjectConfigurations",
            t.emu.url()
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    let r = t
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", t.emu.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_client"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = t
        .get(FO, "/data/DualWriteProjectConfigurations?$top=1")
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // Device code: approved at once, then a refresh token for a new access token.
    let url = t.emu.url();
    let dc: Value = t
        .http
        .post(format!("{url}/{TENANT}/oauth2/v2.0/devicecode"))
        .form(&[("client_id", DI_APP), ("scope", DWS_SCOPE)])
        .send()
        .await
        .expect("dc")
        .json()
        .await
        .expect("json");
    let tok: Value = t
        .http
        .post(format!("{url}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", DI_APP),
            ("device_code", dc["device_code"].as_str().unwrap_or("")),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert!(tok["id_token"].is_string(), "{tok}");
    let refresh = tok["refresh_token"].as_str().expect("refresh_token");
    // A device-code refresh token is not a single-page app's: sent cross-origin, it is refused.
    let (s, v) = redeem(
        &t,
        refresh,
        Some("https://dataintegrator.trafficmanager.net/"),
    )
    .await;
    assert_eq!((s, aadsts(&v)), (StatusCode::BAD_REQUEST, 9002326), "{v}");
    let (s, tok2) = redeem(&t, refresh, None).await;
    assert_eq!(s, StatusCode::OK, "{tok2}");
    let access = tok2["access_token"].as_str().expect("access_token");
    let r = t
        .http
        .get(format!(
            "{url}/api/DualWriteManagement/1.0/Environments?targetType=AX&identifier=x.example"
        ))
        .bearer_auth(access)
        .send()
        .await
        .expect("get");
    assert_ne!(r.status(), StatusCode::UNAUTHORIZED);
    // The user's management-service token is not valid at F&O.
    let r = t
        .http
        .get(format!("{url}/data/DualWriteProjectConfigurations"))
        .header("Host", FO)
        .bearer_auth(access)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Nor is a token for another resource at the management service.
    let r = t
        .http
        .get(format!(
            "{url}/api/DualWriteManagement/1.0/api/ConnectionSets"
        ))
        .bearer_auth(&t.token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    t.emu.shutdown().await;
}

const DI_APP: &str = "2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b";
const DWS_SCOPE: &str = "https://IntegratorApp.com/.default openid profile offline_access";

fn aadsts(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap_or(0)
}

/// A refresh-token redemption at `common`, with the portal's Origin and redirect URI when
/// `origin` is given (DWA TokenRefresh.cs).
async fn redeem(t: &T, refresh: &str, origin: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", DI_APP),
        ("scope", DWS_SCOPE),
        ("refresh_token", refresh),
    ];
    let mut b = t
        .http
        .post(format!("{}/common/oauth2/v2.0/token", t.emu.url()));
    if let Some(o) = origin {
        form.push((
            "redirect_uri",
            "https://dataintegrator.trafficmanager.net/dualWrite",
        ));
        b = b.header("Origin", o);
    }
    t.send(b.form(&form)).await
}

#[tokio::test]
async fn portal_refresh_tokens_are_single_page_app_tokens() {
    let mut f = quickstart();
    f.sign_in = Some(dwlink_core::fixture::SignInFixture {
        portal_refresh_token: Some("portal-dev-token".into()),
        spa_refresh_ttl_secs: Some(2),
        ..Default::default()
    });
    let t = T::start(f, Options::default()).await;
    let portal = Some("https://dataintegrator.trafficmanager.net/");
    // Without Origin, as a native client would send it: Entra's SPA refusal.
    let (s, v) = redeem(&t, "portal-dev-token", None).await;
    assert_eq!((s, aadsts(&v)), (StatusCode::BAD_REQUEST, 9002327), "{v}");
    assert!(v["error_description"]
        .as_str()
        .unwrap_or("")
        .starts_with("AADSTS9002327:"));
    let (s, v) = redeem(&t, "not-a-token", portal).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, v) = redeem(&t, "portal-dev-token", portal).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rotated = v["refresh_token"].as_str().expect("rotated").to_string();
    // The rotated token keeps the first one's expiry: 24 h in Entra, 2 s here.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, v) = redeem(&t, &rotated, portal).await;
    assert_eq!((s, aadsts(&v)), (StatusCode::BAD_REQUEST, 700084), "{v}");
    // Device code for an app the tenant does not know.
    let r: Value = t
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/devicecode", t.emu.url()))
        .form(&[
            ("client_id", "99999999-2222-3333-4444-555555555555"),
            ("scope", DWS_SCOPE),
        ])
        .send()
        .await
        .expect("dc")
        .json()
        .await
        .expect("json");
    assert_eq!(aadsts(&r), 700016, "{r}");
    t.emu.shutdown().await;
}

#[tokio::test]
async fn service_protection_counts_requests_batch_operations_and_time_per_user_and_service() {
    let mut f = quickstart();
    f.faults = Some(dwlink_core::fixture::FaultsFixture {
        service_protection: Some(dwlink_core::fixture::ServiceProtectionFixture {
            requests: Some(3),
            execution_secs: Some(1),
            cost_ms: Some(150),
            ..Default::default()
        }),
        ..Default::default()
    });
    let t = T::start(f, Options::default()).await;
    let runtime = "/api/data/v9.2/msdyn_dualwriteruntimeconfigs?$top=1";
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(t.get(UAT, runtime).await.0, StatusCode::OK);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "each request took its cost"
    );
    let r = t
        .req(reqwest::Method::GET, UAT, runtime)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (295..=300).contains(&wait),
        "until the oldest request leaves the window: {wait}"
    );
    // Another service is another budget.
    let (s, _) = t
        .get(
            FO,
            "/data/DualWriteProjectConfigurations?cross-company=true&$top=1",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // A $batch of 7 operations costs 7 × 150 ms: over the 1 s of execution time.
    let parts: Vec<String> = (0..7)
        .map(|i| format!("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /data/DualWriteProjectConfigurations?$top={} HTTP/1.1\r\n\r\n", i + 1))
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let (s, _) = t
        .send(
            t.req(reqwest::Method::POST, FO, "/data/$batch")
                .header("Content-Type", "multipart/mixed; boundary=batch_1")
                .body(batch_body(&refs)),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = t
        .get(
            FO,
            "/data/DualWriteProjectConfigurations?cross-company=true&$top=1",
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("execution time"),
        "{v}"
    );
    t.emu.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_then_recovers() {
    let options = Options {
        faults: FaultOptions {
            rate_limit: Some(5),
            ..Default::default()
        },
        ..Options::default()
    };
    let t = T::start(quickstart(), options).await;
    let mut limited = None;
    for _ in 0..10 {
        let r = t
            .req(
                reqwest::Method::GET,
                FO,
                "/data/DualWriteProjectConfigurations?$top=1",
            )
            .send()
            .await
            .expect("get");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["error"]["code"], "TooManyRequests");
            break;
        }
    }
    let after = limited.expect("a 429 with Retry-After");
    tokio::time::sleep(Duration::from_secs(after)).await;
    let (s, _) = t
        .get(FO, "/data/DualWriteProjectConfigurations?$top=1")
        .await;
    assert_eq!(s, StatusCode::OK);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_and_injected_failures() {
    let options = Options {
        faults: FaultOptions {
            drop_rate: 0.5,
            fail_rate: 0.3,
            seed: Some(7),
            ..Default::default()
        },
        ..Options::default()
    };
    let emu = emulator::spawn(quickstart(), options).await.expect("spawn");
    let http = Client::new();
    let (mut dropped, mut failed, mut ok) = (0, 0, 0);
    for _ in 0..40 {
        match http
            .get(format!("{}/data/DualWriteProjectConfigurations", emu.url()))
            .send()
            .await
        {
            Err(_) => dropped += 1,
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => failed += 1,
            Ok(_) => ok += 1,
        }
    }
    assert!(
        dropped > 0 && failed > 0 && ok > 0,
        "dropped {dropped}, failed {failed}, ok {ok}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn maps_stop_start_and_reset_scenarios() {
    let t = T::start(fixture(WORLD), Options::default()).await;
    let c = t.connection(FO).await;
    let id = c["id"].as_str().expect("id").to_string();
    assert_eq!(
        env_of(&c, "CRM")["directUrl"],
        "https://contoso-prod.crm.dynamics.com"
    );
    let reset = |force: bool| {
        format!(
            "api/ConnectionSet/{id}/Reset?targetType=AX&forceReset={}",
            if force { "True" } else { "False" }
        )
    };
    let body = reset_body(&c, &["usmf", "DEMF"]);
    // Scenario 2 with a running map: refused without force.
    let (s, v) = t
        .root(reqwest::Method::POST, &reset(false), Some(body.clone()))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("MapsRunning"))
    );
    // The shapes an earlier dwlink invented are refused, not tolerated.
    let mut invented = body.clone();
    invented["target"] = json!("PowerPlatformLink");
    let (s, _) = t
        .root(reqwest::Method::POST, &reset(true), Some(invented))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for old in [
        format!("api/ConnectionSet/{id}/Maps"),
        "api/ConnectionSets?financeOperationsUrl=https://x".to_string(),
    ] {
        let (s, _) = t.dws(reqwest::Method::GET, &old, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{old}");
    }
    let (s, _) = t
        .dws(
            reqwest::Method::PUT,
            &format!("api/ConnectionSet/{id}/LegalEntities"),
            Some(json!({"legalEntities": ["USMF"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let maps = t.maps(&id).await;
    let detail = &maps[0]["detail"];
    let (tid, pid) = (detail["tid"].clone(), detail["pid"].clone());
    assert_eq!(detail["state"], "4");
    let (s, req) = t
        .dws(
            reqwest::Method::POST,
            "Start",
            Some(json!({"action": "4", "details": [{"tid": tid, "pid": pid, "cid": id,
                "parameters": {"skipInitialSync": true, "conflictResolution": {"master": "CRM", "option": "1"}}}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.wait(&req).await, "2");
    assert_eq!(t.maps(&id).await[0]["detail"]["state"], "1");
    let to_link = reset_body_to(
        &c,
        &["usmf", "DEMF"],
        "https://contoso-uat.crm.dynamics.com",
        "contoso-uat",
    );
    let (s, v) = t
        .root(reqwest::Method::POST, &reset(false), Some(to_link))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = t.connection(FO).await;
    assert_eq!(
        env_of(&c, "CRM")["directUrl"],
        "https://contoso-uat.crm.dynamics.com",
        "relinked to the Power Platform link"
    );
    assert_eq!(legal_entities(&c), ["USMF", "DEMF"]);
    let (_, v) = t
        .get(FO, "/data/DualWriteProjectConfigurations?$count=true")
        .await;
    assert_eq!(v["@odata.count"], 0);
    let (_, v) = t
        .get(
            UAT,
            "/api/data/v9.2/msdyn_dualwriteruntimeconfigs?$count=true",
        )
        .await;
    assert_eq!(v["@odata.count"], 0);
    assert_eq!(t.maps(&id).await, json!([]), "maps are removed by reset");
    // Apply Solution brings maps back (Stopped), one solution per request.
    let (_, sols) = t
        .dws(
            reqwest::Method::GET,
            &format!("SolutionAware/{id}/Solutions/"),
            None,
        )
        .await;
    let sol = sols[0]["uniquename"]
        .as_str()
        .expect("solution")
        .to_string();
    let apply = |names: Vec<&str>| json!({"action": "2", "solutions": names.iter().map(|n| json!({"criteria": {"uniquename": n}})).collect::<Vec<_>>()});
    let restore = format!("SolutionAware/{id}/RestoreTemplates");
    let (s, _) = t
        .dws(
            reqwest::Method::POST,
            &restore,
            Some(apply(vec![&sol, &sol])),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "one solution per request");
    let (s, req) = t
        .dws(reqwest::Method::POST, &restore, Some(apply(vec![&sol])))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.wait_solution(&id, &req).await, "2");
    assert_eq!(t.maps(&id).await[0]["detail"]["state"], "1");
    let c = t.connection(FO).await;
    assert_eq!(
        c["dualWriteDetail"]["solutionAwareRequests"][0]["requestId"],
        req["requestId"]
    );
    let (_, v) = t.get(FO, "/data/DualWriteProjectConfigurations").await;
    assert_eq!(
        (
            v["value"][0]["ExternalEnvironmentUrl"].as_str(),
            v["value"][0]["Status"].as_str()
        ),
        (
            Some("https://contoso-uat.crm.dynamics.com"),
            Some("Disabled")
        )
    );
    let (_, v) = t
        .get(UAT, "/api/data/v9.2/msdyn_dualwriteruntimeconfigs")
        .await;
    assert!(
        v["value"][0]["msdyn_name"].is_string()
            && v["value"][0]
                .get("msdyn_secureconfigorganization")
                .is_none(),
        "{v}"
    );

    // Scenario 1: same organization, plain reset.
    let c = t.connection("same.sandbox.operations.dynamics.com").await;
    let cid = c["id"].as_str().unwrap_or("").to_string();
    let (s, _) = t
        .root(
            reqwest::Method::POST,
            &format!("api/ConnectionSet/{cid}/Reset?targetType=AX&forceReset=True"),
            Some(reset_body(&c, &[])),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Scenario 3: blank Power Platform link → 400.
    let c = t.connection("blank.sandbox.operations.dynamics.com").await;
    let cid = c["id"].as_str().unwrap_or("").to_string();
    let (s, v) = t
        .root(
            reqwest::Method::POST,
            &format!("api/ConnectionSet/{cid}/Reset?targetType=AX&forceReset=True"),
            Some(reset_body(&c, &[])),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("NoPowerPlatformLink"))
    );
    // Scenario 4: cloud-hosted refreshes as is.
    let c = t.connection("dev.cloudax.dynamics.com").await;
    assert_eq!(env_of(&c, "AX")["isDevInstance"], true);
    let cid = c["id"].as_str().unwrap_or("").to_string();
    let (s, _) = t
        .root(
            reqwest::Method::POST,
            &format!("api/ConnectionSet/{cid}/Reset?targetType=AX&forceReset=True"),
            Some(reset_body(&c, &[])),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let c = t.connection("dev.cloudax.dynamics.com").await;
    assert_eq!(
        env_of(&c, "CRM")["directUrl"],
        "https://contoso-dev.crm.dynamics.com"
    );
    let (_, v) = t
        .get(
            "contoso-dev.crm.dynamics.com",
            "/api/data/v9.2/msdyn_dualwriteruntimeconfigs?$count=true",
        )
        .await;
    assert_eq!(v["@odata.count"], 0);
    // The admin API lists the Power Platform links; cloud-hosted environments are not there.
    let (s, v) = t
        .get(
            "api.bap.microsoft.com",
            "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2023-06-01",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let linked: Vec<&str> = v["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|e| e["properties"]["linkedAppMetadata"]["url"].as_str())
        .collect();
    assert!(
        linked.contains(&format!("https://{FO}").as_str()),
        "{linked:?}"
    );
    assert!(!linked.iter().any(|u| u.contains("cloudax")), "{linked:?}");
    let (s, _) = t
        .get(
            "api.bap.microsoft.com",
            "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments",
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "api-version is required");
    // Two environments of a kind and an unknown host: 404 naming the known hosts.
    let (s, v) = t
        .get("127.0.0.1", "/data/DualWriteProjectConfigurations")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"]["message"].as_str().unwrap_or("").contains(FO));
    t.emu.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("dwlink-emu-state-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let state = dir.join("state.json");
    let options = || Options {
        state: Some(state.clone()),
        ..Options::default()
    };
    let t = T::start(quickstart(), options()).await;
    let (s, _) = t
        .send(t.req(
            reqwest::Method::DELETE,
            FO,
            "/data/DualWriteProjectConfigurations('DWP-0000005')",
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    t.emu.shutdown().await;
    // A different fixture: the state file wins.
    let t = T::start(fixture(WORLD), options()).await;
    let (s, _) = t
        .get(FO, "/data/DualWriteProjectConfigurations('DWP-0000005')")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = t
        .get(
            FO,
            "/data/DualWriteProjectConfigurations?$count=true&$top=0",
        )
        .await;
    assert_eq!(v["@odata.count"], 119);
    t.emu.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_round_trip_with_the_written_ca() {
    let dir = std::env::temp_dir().join(format!("dwlink-emu-tls-{}", uuid::Uuid::new_v4()));
    let options = Options {
        tls: true,
        tls_dir: Some(dir.clone()),
        ..Options::default()
    };
    let emu = emulator::spawn(quickstart(), options).await.expect("spawn");
    assert!(emu.url().starts_with("https://127.0.0.1:"));
    let pem = std::fs::read(dir.join("ca.pem")).expect("ca.pem");
    let http = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let r = http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "emulator-secret"),
        ])
        .send()
        .await
        .expect("https");
    assert_eq!(r.status(), StatusCode::OK);
    let tok: Value = r.json().await.expect("json");
    let v: Value = http
        .get(format!(
            "{}/data/DualWriteProjectConfigurations?$top=1",
            emu.url()
        ))
        .bearer_auth(tok["access_token"].as_str().unwrap_or(""))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(v["@odata.context"]
        .as_str()
        .unwrap_or("")
        .starts_with("https://"));
    // A client that does not trust the CA is refused.
    assert!(Client::new().get(emu.url()).send().await.is_err());
    emu.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_fixtures_get_spanned_diagnostics() {
    let err = fixture::parse_str("bad.yaml", "finance_operations:\n  - url: not a url\n    environment_type: sandbox\n    colour: blue\n").expect_err("problems");
    let codes: Vec<&str> = err.0.iter().map(|p| p.code).collect();
    assert!(codes.contains(&"dwlink::config::unknown_key"), "{codes:?}");
    assert!(err.0.iter().all(|p| !p.labels.is_empty()));
    let err = fixture::parse_str(
        "bad.yaml",
        "finance_operations:\n  - url: not a url\n    environment_type: sandbox\n",
    )
    .expect_err("problems");
    assert_eq!(err.0[0].code, "dwlink::fixture::invalid");
    assert!(fixture::quickstart().is_ok());
}

/// A client we did not write (python `requests`): plain OData v4. The management service and
/// admin API as Microsoft's own code calls them are checked against a `dwlink emulator` process
/// (tests/cli/thirdparty.rs). Skipped without python3.
#[tokio::test]
async fn third_party_python_clients() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!("skip: python3 with `requests` is not installed (pip install requests)");
        return;
    }
    for script in ["odata_client.py"] {
        let emu = emulator::spawn(quickstart(), Options::default())
            .await
            .expect("spawn");
        let path = format!("{}/tests/thirdparty/{script}", env!("CARGO_MANIFEST_DIR"));
        let out = tokio::process::Command::new("python3")
            .arg(&path)
            .arg(emu.url())
            .output()
            .await
            .expect("run python3");
        assert!(
            out.status.success(),
            "{script}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        emu.shutdown().await;
    }
}
