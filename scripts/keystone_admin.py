"""Keystone's v3 API as its bootstrap admin (admin / adminpw, which test-keystone.sh sets), for the
scripts that register users, services and endpoints in the test Keystone."""
import json
import urllib.request


class KeystoneAdmin:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/v3"
        self.token = None
        headers, _ = self.call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "adminpw"}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        self.token = headers["X-Subject-Token"]
        self.roles = {r["name"]: r["id"] for r in self.call("GET", "/roles")[1]["roles"]}

    def call(self, method, path, body=None):
        """(headers, JSON body) of one request."""
        req = urllib.request.Request(self.base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", **({"X-Auth-Token": self.token} if self.token else {})})
        with urllib.request.urlopen(req) as r:
            return r.headers, json.loads(r.read() or b"{}")
