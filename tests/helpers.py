"""Drive the console API like a user would; works with Flask's test client and with httpx."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

PASSWORD = "passw0rd-Aa1"


def body(response: Any) -> Any:
    value = response.json
    return value() if callable(value) else value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Member:
    email: str
    token: str
    account_id: str
    tenant_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


class Console:
    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, token: str | None = None, expect: int | None = None, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **(bearer(token) if token else {})}
        response = getattr(self.client, method)(f"/console/api{path}", headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, body(response))
        return response

    def setup_owner(self, email: str = "owner@example.com", name: str = "Owner") -> Member:
        self.call("post", "/setup", json={"email": email, "name": name, "password": PASSWORD}, expect=201)
        return self.login(email)

    def login(self, email: str, password: str = PASSWORD) -> Member:
        data = body(self.call("post", "/login", json={"email": email, "password": password}, expect=200))["data"]
        profile = body(self.call("get", "/account/profile", token=data["access_token"], expect=200))
        current = body(self.call("post", "/workspaces/current", token=data["access_token"], expect=200))
        member = Member(email=email, token=data["access_token"], account_id=profile["id"], tenant_id=current["id"])
        member.refresh_token = data["refresh_token"]  # type: ignore[attr-defined]
        return member

    def new_workspace_owner(self, inviter: Member, email: str, workspace: str) -> Member:
        """An account owning its own workspace (invited as normal, then creates and switches)."""
        member = self.invite(inviter, email, "normal")
        created = body(self.call("post", "/workspaces", token=member.token, json={"name": workspace}, expect=201))
        member.tenant_id = created["id"]
        return member

    def invite(self, inviter: Member, email: str, role: str) -> Member:
        result = body(self.call("post", "/workspaces/current/members/invite-email", token=inviter.token,
                                json={"emails": [email], "role": role}, expect=201))
        url = result["invitation_results"][0]["url"]
        query = parse_qs(urlparse(url).query)
        self.call("post", "/activate", json={"email": query["email"][0], "token": query["token"][0],
                                             "name": email.split("@")[0], "password": PASSWORD}, expect=200)
        member = self.login(email)
        self.call("post", "/workspaces/switch", token=member.token, json={"tenant_id": inviter.tenant_id}, expect=200)
        member.tenant_id = inviter.tenant_id
        return member

    def create_app(self, member: Member, mode: str = "chat", name: str = "My app") -> dict:
        return body(self.call("post", "/apps", token=member.token, json={"name": name, "mode": mode}, expect=201))

    def create_key(self, member: Member, app_id: str) -> str:
        return body(self.call("post", f"/apps/{app_id}/api-keys", token=member.token, expect=201))["token"]


# ---- URL-map walking: tests generated from the routes, so a new route cannot escape them ----------------

API_PREFIXES = ("/console/api", "/v1", "/api")
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")
_RULE_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    endpoint: str

    @property
    def params(self) -> list[str]:
        return _RULE_PARAM.findall(self.rule)

    @property
    def uuid_params(self) -> list[str]:
        return re.findall(r"<uuid:([^<>]+)>", self.rule)

    @property
    def is_console(self) -> bool:
        return self.rule.startswith("/console/api/")

    def path(self, values: dict[str, str] | None = None) -> str:
        """The rule with every `<converter:name>` replaced by `values[name]`."""
        return _RULE_PARAM.sub(lambda m: str((values or {})[m.group(1)]), self.rule)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def under_prefix(rule: str, prefixes: tuple[str, ...] = API_PREFIXES) -> bool:
    return any(rule == p or rule.startswith(p + "/") for p in prefixes)


def api_routes(app: Any, prefixes: tuple[str, ...] = API_PREFIXES) -> list[Route]:
    """Every (method, rule) under `prefixes`, HEAD/OPTIONS excluded; reads before writes, DELETE last."""
    routes = {Route(method, rule.rule, rule.endpoint) for rule in app.url_map.iter_rules()
              if under_prefix(rule.rule, prefixes)
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    return sorted(routes, key=lambda r: (METHOD_ORDER.index(r.method) if r.method in METHOD_ORDER else 99, r.rule))


def view_doc(app: Any, route: Route) -> dict[str, Any]:
    """The `@doc(...)` metadata of the view serving `route` ({} when undocumented)."""
    endpoint = route.endpoint or next(
        r.endpoint for r in app.url_map.iter_rules() if r.rule == route.rule and route.method in (r.methods or ()))
    view = app.view_functions[endpoint]
    target = getattr(getattr(view, "view_class", None), route.method.lower(), None) or view
    return getattr(target, "__apidoc__", None) or {}


def error_keys_ok(payload: Any) -> bool:
    """The error body is exactly {code, message, status} (plus `params`)."""
    return (isinstance(payload, dict) and {"code", "message", "status"} <= payload.keys()
            and payload.keys() <= {"code", "message", "status", "params"})


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
