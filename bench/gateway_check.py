"""The checks of bench/gateway.py's fault run: the gateway's payments against the upstream's.

* every gateway payment matches exactly one upstream payment whose
  `metadata.kessai_payment` is its id, with gateway amount + tax = upstream amount, the same
  status and the same amount_refunded;
* gateway payments `failed` with `processor_unavailable` (the acquirer never saw them) have
  no upstream payment, and are counted apart;
* every upstream payment maps to a gateway payment (no charge the gateway does not know).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import httpx
from run import Store

FIELDS = ("id", "status", "amount", "tax", "total", "amount_refunded", "captured_at")


def list_all(http: httpx.Client, key: str, path: str = "/api/v1/payments") -> list[dict[str, Any]]:
    """Every object of a list endpoint, all pages."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = http.get(path, params={"page": page, "per_page": 100}, auth=(key, ""))
        resp.raise_for_status()
        body = resp.json()
        out.extend(body["data"])
        if page >= int(body.get("last_page") or 1) or not body["data"]:
            return out
        page += 1


def _pick(obj: dict[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    return {k: obj.get(k) for k in (*FIELDS, *extra)}


def _upstream_view(up: dict[str, Any]) -> dict[str, Any]:
    view = _pick(up, ("metadata",))
    view["refunds"] = [
        {"amount": r.get("amount"), "description": r.get("description")}
        for r in up.get("refunds") or []
    ]
    return view


def check(
    gw_http: httpx.Client, live_key: str, up_http: httpx.Client, up_key: str, gw_store: Store
) -> dict[str, Any]:
    # Open operations first: when none is left here, the lists below show every outcome.
    open_ops = gw_store.query("SELECT count(*) FROM processor_operations WHERE status = ?", "open")
    gw = list_all(gw_http, live_key)
    up = list_all(up_http, up_key)
    failure = dict(gw_store.query("SELECT id, failure_code FROM payments WHERE livemode = ?", True))
    by_payment: dict[str, list[dict[str, Any]]] = {}
    unmarked = []
    for p in up:
        kp = (p.get("metadata") or {}).get("kessai_payment")
        if kp:
            by_payment.setdefault(kp, []).append(p)
        else:
            unmarked.append(_upstream_view(p))
    gw_ids = {p["id"] for p in gw}
    mismatches: list[dict[str, Any]] = []
    never_reached = []
    failed_other: dict[str, int] = {}
    matched = 0
    for p in gw:
        ups = by_payment.get(p["id"], [])
        code = failure.get(p["id"])
        if not ups:
            if p["status"] == "failed" and code == "processor_unavailable":
                never_reached.append(p["id"])
                continue
            mismatches.append(
                {"payment": p["id"], "problem": "no upstream payment",
                 "gateway": {**_pick(p), "failure_code": code}}
            )  # fmt: skip
            if p["status"] == "failed":
                failed_other[str(code)] = failed_other.get(str(code), 0) + 1
            continue
        if len(ups) > 1:
            mismatches.append(
                {"payment": p["id"], "problem": f"{len(ups)} upstream payments",
                 "gateway": _pick(p), "upstream": [_upstream_view(u) for u in ups]}
            )  # fmt: skip
            continue
        u = ups[0]
        problems = []
        if p["amount"] + p["tax"] != u["amount"] + (u.get("tax") or 0):
            problems.append(
                f"amount: gateway {p['amount']}+{p['tax']} tax vs upstream {u['amount']}"
            )
        if p["status"] != u["status"]:
            problems.append(f"status: gateway {p['status']} vs upstream {u['status']}")
        if p["amount_refunded"] != u["amount_refunded"]:
            problems.append(
                f"amount_refunded: gateway {p['amount_refunded']} vs upstream "
                f"{u['amount_refunded']}"
            )
        if problems:
            mismatches.append(
                {"payment": p["id"], "problem": "; ".join(problems),
                 "gateway": {**_pick(p), "failure_code": code}, "upstream": _upstream_view(u)}
            )  # fmt: skip
        else:
            matched += 1
    orphans = [
        {"kessai_payment": kp, "upstream": [_upstream_view(u) for u in ups]}
        for kp, ups in by_payment.items()
        if kp not in gw_ids
    ]
    return {
        "ok": not mismatches and not orphans and not unmarked,
        "gateway_payments": len(gw),
        "gateway_statuses": _count(p["status"] for p in gw),
        "upstream_payments": len(up),
        "upstream_statuses": _count(p["status"] for p in up),
        "matched": matched,
        "failed_never_reached_upstream": len(never_reached),
        "failed_never_reached_ids": never_reached,
        "mismatches": mismatches,
        "mismatch_kinds": _count(_kind(m["problem"]) for m in mismatches),
        "orphan_upstream_payments": orphans,
        "unmarked_upstream_payments": unmarked,
        "gateway_open_operations": int(open_ops[0][0]),
    }


def _kind(problem: str) -> str:
    return "; ".join(part.split(":")[0] for part in problem.split("; "))


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def operations_of(store: Store, payment_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The gateway's processor_operations rows of these payments, oldest first."""
    cols = (
        "id", "kind", "status", "amount", "attempts", "request", "resume", "outcome",
        "lease_until", "next_attempt_at", "created_at", "updated_at",
    )  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {}
    for pid in payment_ids:
        rows = store.query(
            f"SELECT {', '.join(cols)} FROM processor_operations WHERE payment_id = ? "
            "ORDER BY created_at",
            pid,
        )
        out[pid] = [{c: _plain(v) for c, v in zip(cols, row, strict=True)} for row in rows]
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, str) and (v[:1] in "{[" or v == "null"):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v
