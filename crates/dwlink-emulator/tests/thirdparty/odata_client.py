"""A client dwlink did not write, against a running emulator: python `requests` speaking plain
OData v4 (token, paging by @odata.nextLink, $filter, $select, $count, ETag/If-Match, $batch).

pyodata was the first choice but speaks OData v2 only (`{"d": {"results": …}}`), which neither
Dataverse nor F&O nor the emulator serve.

Usage: python3 odata_client.py BASE_URL   (exit 0 on success; prints what failed otherwise)
"""
import sys

import requests

base = sys.argv[1].rstrip("/")
s = requests.Session()
tok = s.post(f"{base}/72f988bf-0000-0000-0000-000000000000/oauth2/v2.0/token", data={
    "grant_type": "client_credentials",
    "client_id": "11111111-2222-3333-4444-555555555555",
    "client_secret": "emulator-secret",
    "scope": "https://contoso-uat.crm.dynamics.com/.default",
}).json()
s.headers["Authorization"] = "Bearer " + tok["access_token"]
s.headers["Accept"] = "application/json"

# Paging: follow nextLink as given (Host is 127.0.0.1, so links point back here).
url, rows, pages = f"{base}/data/DualWriteProjectConfigurations?cross-company=true", 0, 0
while url:
    r = s.get(url, headers={"Prefer": "odata.maxpagesize=50"})
    r.raise_for_status()
    body = r.json()
    rows += len(body["value"])
    pages += 1
    url = body.get("@odata.nextLink")
assert (rows, pages) == (120, 3), (rows, pages)
# No public OData set for the field configurations (the emulator keeps their rows internally).
assert s.get(f"{base}/data/DualWriteProjectFieldConfigurations").status_code == 404

r = s.get(f"{base}/api/data/v9.2/EntityDefinitions", params={
    "$filter": "LogicalName eq 'msdyn_dualwriteruntimeconfig'", "$select": "LogicalName,EntitySetName"})
entity_set = r.json()["value"][0]["EntitySetName"]
r = s.get(f"{base}/api/data/v9.2/{entity_set}", params={"$count": "true", "$select": "msdyn_dualwriteruntimeconfigid,msdyn_name"})
body = r.json()
assert body["@odata.count"] == 12 and set(body["value"][0]) == {"@odata.etag", "msdyn_dualwriteruntimeconfigid", "msdyn_name"}, body
rid = body["value"][0]["msdyn_dualwriteruntimeconfigid"]
etag = body["value"][0]["@odata.etag"]
r = s.patch(f"{base}/api/data/v9.2/{entity_set}({rid})", json={"msdyn_name": "x"}, headers={"If-Match": 'W/"999"'})
assert r.status_code == 412 and "error" in r.json(), r.text
r = s.patch(f"{base}/api/data/v9.2/{entity_set}({rid})", json={"msdyn_name": "x"}, headers={"If-Match": etag})
assert r.status_code == 204, r.text

batch = (
    "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    f"DELETE {base}/api/data/v9.2/{entity_set}({rid}) HTTP/1.1\r\n\r\n\r\n--b--\r\n"
)
r = s.post(f"{base}/api/data/v9.2/$batch", data=batch, headers={"Content-Type": "multipart/mixed; boundary=b"})
assert r.status_code == 200 and "204 No Content" in r.text, r.text
assert s.get(f"{base}/api/data/v9.2/{entity_set}({rid})").status_code == 404
print("third-party client: ok")
