"""A client dwlink did not write, against a running emulator: the dual-write management service
and the Power Platform admin API called exactly as Microsoft's own code calls them, written from
microsoft/Dual-write-automations (DWA) and microsoft/terraform-provider-power-platform (TFPP),
not from dwlink's client. It also checks that the routes an earlier dwlink invented are gone.

Usage: python3 dws_client.py BASE_URL   (exit 0 on success; prints what failed otherwise)
"""
import sys
import time

import requests

base = sys.argv[1].rstrip("/")
api = f"{base}/api/DualWriteManagement/1.0/"  # DWA DWLibary/DWHttp.cs buildReqUri
fo_host = "contoso-uat.sandbox.operations.dynamics.com"


def session(scope):
    """A session with a token for one resource: the management service takes only tokens for
    `https://IntegratorApp.com` (DWA DWLibary/TokenRefresh.cs), the admin API those for
    `https://service.powerapps.com` (TFPP internal/api/client.go)."""
    t = requests.post(f"{base}/72f988bf-0000-0000-0000-000000000000/oauth2/v2.0/token", data={
        "grant_type": "client_credentials",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": "emulator-secret",
        "scope": scope,
    }).json()
    x = requests.Session()
    x.headers["Authorization"] = "Bearer " + t["access_token"]
    return x


s = session("https://IntegratorApp.com/.default")
admin = session("https://service.powerapps.com/.default")
# DWA DWHttp.cs buildDefaultHttpRequestPost
post_headers = {"Accept": "application/json", "Origin": "https://dataintegrator.trafficmanager.net/"}


def ok(r):
    assert 200 <= r.status_code < 300, (r.request.method, r.url, r.status_code, r.text)
    return r


# DWA DWEnvCalls.cs getEnvironment: List<DWEnvironment>, item 0.
env = ok(s.get(f"{api}Environments", params={"targetType": "AX", "identifier": fo_host})).json()[0]
cid, cname = env["cid"], env["cname"]
assert env["detail"]["isSolutionAware"] is True, env

# DWA DWCommonEngine.cs getConnectionSet: at the gateway root, environments keyed by name.
cs = ok(s.get(f"{base}/api/ConnectionSet/{cname}")).json()
assert cs["id"] == cid, cs
crm = next(e for e in cs["environments"].values() if e["targetType"] == "CRM" or "CDS" in e["targetType"])
ax = next(e for e in cs["environments"].values() if e["targetType"] == "AX")
assert crm["directUrl"] == "https://contoso-prod.crm.dynamics.com", crm
les = sorted({m["left"]["name"] for m in cs["dualWriteDetail"]["legalEntityMappings"]["mappings"]})
assert les == ["DEMF", "USMF"], les

# DWA DWCommonEngine.cs tryGetDWMaps: List<DWMap>; DWEnums.cs MapStatus as numeric strings.
maps = ok(s.get(f"{api}Entities", params={"targetType": "AX", "cid": cid})).json()
running = [m for m in maps if m["detail"]["state"] == "4"]
assert len(running) == 2, [m["detail"]["state"] for m in maps]


def start_stop(m, action):
    # DWA DWMapEngine.cs startStopMap and checkRequestResponseStatus.
    body = {"action": action, "details": [{"tid": m["detail"]["template"]["id"], "pid": m["detail"]["pid"], "cid": cid,
                                           "parameters": {"skipInitialSync": True,
                                                          "conflictResolution": {"master": "CRM", "option": "1"}}}]}
    rid = ok(s.post(f"{api}Start", json=body, headers=post_headers)).json()["requestId"]
    for _ in range(300):
        result = ok(s.get(f"{api}Status/{rid}")).json()
        req = next(r for r in result[0]["detail"]["lastRequests"] if r["requestId"] == rid)
        if req["state"] in ("2", "3"):
            return req
        time.sleep(0.01)
    raise AssertionError(f"request {rid} never ended")


for m in running:
    assert start_stop(m, "4")["state"] == "2"
maps = ok(s.get(f"{api}Entities", params={"targetType": "AX", "cid": cid})).json()
assert all(m["detail"]["state"] in ("1", "6") for m in maps), maps

# DWA ResetLinkEngine.cs: ResetLinkPayload built from the connection set, at the gateway root.
def entry(e):
    return {"targetType": e["targetType"], "name": e["name"], "displayName": e["environmentDisplayName"],
            "id": e.get("powerAppsEnvironment"), "isDevInstance": e["isDevInstance"], "directUrl": e["directUrl"]}


payload = {"powerAppsEnvironmentName": crm["powerAppsEnvironment"], "environments": [entry(crm), entry(ax)],
           "legalEntities": les}
payload["environments"][1].pop("id")  # NullValueHandling.Ignore: the AX entry has no powerAppsEnvironment
ok(s.post(f"{base}/api/ConnectionSet/{cid}/Reset", params={"targetType": "AX", "forceReset": "False"},
          json=payload, headers=post_headers, timeout=300))
cs = ok(s.get(f"{base}/api/ConnectionSet/{cname}")).json()
crm = next(e for e in cs["environments"].values() if e["targetType"] == "CRM")
# DWA's body names the current environment; the emulator keeps it (dwlink's inference that the
# body selects the reset's target: docs/http-contract.md, "The reset").
assert crm["directUrl"] == "https://contoso-prod.crm.dynamics.com", crm
# dwlink's body for `reset_target: power-platform-link`: the same payload with the CRM entry of the
# Power Platform link's environment (admin API name, uniqueName, instanceUrl).
envs = ok(admin.get(f"{base}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments",
                params={"api-version": "2023-06-01"})).json()["value"]
pp = next(e for e in envs if e["properties"].get("linkedAppMetadata", {}).get("url", "").endswith(fo_host))
meta = pp["properties"]["linkedEnvironmentMetadata"]
payload["powerAppsEnvironmentName"] = pp["name"]
payload["environments"][0] = {"targetType": "CRM", "name": meta["uniqueName"], "displayName": pp["properties"]["displayName"],
                              "id": pp["name"], "isDevInstance": False, "directUrl": meta["instanceUrl"].rstrip("/")}
ok(s.post(f"{base}/api/ConnectionSet/{cid}/Reset", params={"targetType": "AX", "forceReset": "False"},
          json=payload, headers=post_headers, timeout=300))
cs = ok(s.get(f"{base}/api/ConnectionSet/{cname}")).json()
crm = next(e for e in cs["environments"].values() if e["targetType"] == "CRM")
assert crm["directUrl"] == "https://contoso-uat.crm.dynamics.com", crm  # the Power Platform link
# A body naming neither the current environment nor the Power Platform link is refused.
payload["environments"][0]["directUrl"] = "https://contoso-test.crm.dynamics.com"
assert s.post(f"{base}/api/ConnectionSet/{cid}/Reset", params={"targetType": "AX", "forceReset": "False"},
              json=payload, headers=post_headers).status_code == 400

# DWA DWCommonEngine.cs getSolutions and DWSolutionEngine.cs: one solution per RestoreTemplates.
sols = ok(s.get(f"{api}SolutionAware/{cid}/Solutions/")).json()
name = sols[0]["uniquename"]
rid = ok(s.post(f"{api}SolutionAware/{cid}/RestoreTemplates",
                json={"action": "2", "solutions": [{"criteria": {"uniquename": name}}]}, headers=post_headers)).json()["requestId"]
for _ in range(300):
    st = ok(s.get(f"{api}SolutionAware/{cid}/Status/{rid}")).json()
    if st["state"] in ("2", "3"):
        break
    time.sleep(0.01)
assert st["state"] == "2", st
maps = ok(s.get(f"{api}Entities", params={"targetType": "AX", "cid": cid})).json()
assert maps and all(m["detail"]["state"] == "1" for m in maps), maps
assert start_stop(maps[0], "1")["state"] == "2"

# TFPP internal/services/environment: the admin API's list, linkedAppMetadata.url → linkedEnvironmentMetadata.
envs = ok(admin.get(f"{base}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments",
                params={"api-version": "2023-06-01"})).json()["value"]
linked = [e for e in envs if e["properties"].get("linkedAppMetadata", {}).get("url", "").endswith(fo_host)]
assert [e["properties"]["linkedEnvironmentMetadata"]["instanceUrl"] for e in linked] == ["https://contoso-uat.crm.dynamics.com/"], linked

# F&O and Dataverse under their real names (UO data-entities/odata.md; powerapps-docs Web API
# functions; research: d365-agent DualWriteProjectConfigurationsApi.ts).
fo = session(f"https://{fo_host}/.default")
rows = ok(fo.get(f"{base}/data/DualWriteProjectConfigurations",
                 params={"cross-company": "true", "$select": "ProjectName,ExternalEnvironmentUrl,Status,IsDebugMode"})).json()["value"]
assert rows and all(r["Status"] in ("Enabled", "Disabled", "Queueing") and r["IsDebugMode"] in ("No", "Yes") for r in rows), rows[:2]
assert rows[0]["ExternalEnvironmentUrl"] == "https://contoso-uat.crm.dynamics.com", rows[0]
assert fo.get(f"{base}/data/DualWriteProjectConfigurations", params={"$select": "ExternalEnvironmentURL"}).status_code == 400
assert fo.get(f"{base}/data/DualWriteProjectFieldConfigurations").status_code == 404
meta = ok(fo.get(f"{base}/data/$metadata")).text
assert 'Name="DualWriteProjectConfigurations"' in meta, meta[:500]
dv = session("https://contoso-uat.crm.dynamics.com/.default")
org = ok(dv.get(f"{base}/api/data/v9.2/RetrieveCurrentOrganization(AccessType=@p1)",
                params={"@p1": "Microsoft.Dynamics.CRM.EndpointAccessType'Default'"})).json()["Detail"]
assert (org["UniqueName"], org["FriendlyName"], org["OrganizationId"]) == (
    "org6459f7a8", "ContosoUAT", "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"), org
assert dv.get(f"{base}/api/data/v9.2/organizations", params={"$select": "uniquename"}).status_code == 400
link = ok(dv.get(f"{base}/api/data/v9.2/RetrieveFinanceAndOperationsIntegrationDetails")).json()
assert link["Url"].rstrip("/") == f"https://{fo_host}", link

# The admin API's token does not open the management service.
assert admin.get(f"{api}Environments", params={"targetType": "AX", "identifier": fo_host}).status_code == 401

# The shapes an earlier dwlink invented do not exist.
for method, path in [("GET", f"{api}api/ConnectionSets?financeOperationsUrl=https://{fo_host}"),
                     ("GET", f"{api}api/ConnectionSet/{cid}/Maps"),
                     ("GET", f"{api}api/Status/{rid}"),
                     ("PUT", f"{api}api/ConnectionSet/{cid}/LegalEntities"),
                     ("POST", f"{api}SolutionAware/{cid}/Solutions/{name}/Apply"),
                     ("POST", f"{api}api/ConnectionSet/{cid}/Maps/x/Stop")]:
    r = s.request(method, path, json={})
    assert r.status_code == 404, (method, path, r.status_code)
bad = dict(payload, target="PowerPlatformLink")
r = s.post(f"{base}/api/ConnectionSet/{cid}/Reset", params={"targetType": "AX", "forceReset": "True"}, json=bad)
assert r.status_code == 400, r.text
print("management-service client: ok")
