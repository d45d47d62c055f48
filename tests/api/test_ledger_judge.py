"""The ledger's judge (issue 12), black-box: 500 payments of mixed types over 90 days of a
merchant's test clock, sent by 8 clients at once, with captures (some partial), partial
refunds (some racing each other), chargebacks (test cards, scenarios and the test tool;
defended, accepted, raced or left to expire), disbursements (paid, failed, cancelled,
refused, racing for the balance) and weekly settlements; the embedded worker and a `kessai
worker` run due work beside the clock, and some clock moves race each other.

Afterwards `kessai ledger check` passes, the balance equals captured - refunded - fees -
chargebacks not won - disbursements, computed by the client from the API's own objects (and
the sum of the balance transactions), and every settlement's CSV sums to its totals.

The clock moves by whole days plus two hours: what falls due (a day, 5 or 7 days after
something was done) never lands within seconds after a step, so due work runs in the clock
moves (raced by the workers), never under the requests of a batch.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api import ledger_client as lc
from tests.api.ledger_audit import Expected, audit, audit_events, audit_settlements
from tests.conftest import KESSAI, Merchant, Server, assert_error, kessai, served

PAYMENTS, DAYS, FINAL_DAYS = 500, 90, 18
STEP_EXTRA = timedelta(hours=2)
# payment kind -> weight
KINDS = {
    "card": 30, "card_tax": 5, "auth": 15, "auth_dropped": 3, "won_card": 4, "lost_card": 4,
    "won_scenario": 2, "lost_scenario": 2, "declined": 3, "konbini": 8, "konbini_later": 5,
    "konbini_expires": 5, "bank_transfer": 4, "paypay": 6, "paypay_abandoned": 2,
}  # fmt: skip
OUTCOMES = {"won_card": "won", "lost_card": "lost", "won_scenario": "won", "lost_scenario": "lost"}
REFUNDABLE = ("card", "card_tax", "auth", "paypay")
Task = tuple[Callable[[httpx.Client], Any], Callable[[Any], None]]


@pytest.fixture(scope="module")
def ledger_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("ledger-judge")
    fast = {"KESSAI_SWEEP_INTERVAL": "0.2", "KESSAI_LOG_LEVEL": "warning"}
    with served(workdir, env=fast) as srv:
        log = workdir / "worker.log"
        worker = subprocess.Popen(
            [*KESSAI, "worker"],
            env={**srv.env(), **fast},
            cwd=workdir,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            yield srv
            assert worker.poll() is None, log.read_text()[-3000:]
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        for path in (log, srv.log_path):
            assert "Traceback" not in path.read_text(), path.read_text()[-5000:]


def _disputed_card(
    c: httpx.Client, amount: int, number: str, scenario: str | None, refund_first: bool
) -> dict[str, Any]:
    """A card payment disputed a day after capture; some are partly refunded before."""
    payment = lc.pay_card(c, amount, number, scenario=scenario)
    if refund_first:
        refunded = lc.refund(c, payment["id"], amount // 4)
        assert refunded is not None
        return refunded
    return payment


class Shop:
    """One merchant's story: what it has done and what it expects of each object."""

    def __init__(self, merchant: Merchant, clients: lc.Clients, rng: random.Random) -> None:
        self.merchant, self.clients, self.rng = merchant, clients, rng
        self.base_url = merchant.server.base_url
        self.expected = Expected()
        self.outcomes = self.expected.outcomes  # disputed payment -> won | lost
        self.refundable: dict[str, int] = {}  # payment -> what is left to refund
        self.tool_ok: set[str] = set()  # good-card payments the test tool may dispute
        self.to_capture: list[tuple[str, int]] = []
        self.to_drop: list[str] = []
        self.to_pay: list[str] = []
        self.seen: set[str] = set()  # chargebacks answered (or left) already
        self.fresh: list[dict[str, Any]] = []  # pending chargebacks not answered yet
        self.chargebacks = self.expected.chargebacks  # -> the status it must end in
        self.disbursements = self.expected.disbursements  # -> the status it must end in

    # --- planning a batch -------------------------------------------------------------

    def new_payment(self, kind: str) -> Task:
        amount, c = self.rng.randint(500, 30_000), lc
        tasks: dict[str, Callable[[httpx.Client], Any]] = {
            "card": lambda cl: c.pay_card(cl, amount),
            "card_tax": lambda cl: c.pay_card(cl, amount, tax=amount // 10),
            "auth": lambda cl: c.pay_card(cl, amount, capture=False),
            "auth_dropped": lambda cl: c.pay_card(cl, amount, capture=False),
            "declined": lambda cl: c.pay_card(cl, amount, c.DECLINED_CARD),
            "konbini": lambda cl: c.pay_cash(cl, self.base_url, "konbini", amount, paid=True),
            "konbini_later": lambda cl: c.pay_cash(
                cl, self.base_url, "konbini", amount, paid=False, expiry_days=5
            ),
            "konbini_expires": lambda cl: c.pay_cash(
                cl, self.base_url, "konbini", amount, paid=False
            ),
            "bank_transfer": lambda cl: c.pay_cash(
                cl, self.base_url, "bank_transfer", amount, paid=True
            ),
            "paypay": lambda cl: c.pay_wallet(cl, amount, complete=True),
            "paypay_abandoned": lambda cl: c.pay_wallet(cl, amount, complete=False),
        }
        if kind in OUTCOMES:
            number = {"won_card": c.WON_CARD, "lost_card": c.LOST_CARD}.get(
                kind, "4111111111111111"
            )
            scenario = {"won_scenario": "chargeback", "lost_scenario": "chargeback_lost"}.get(kind)
            task = functools.partial(
                _disputed_card,
                amount=amount,
                number=number,
                scenario=scenario,
                refund_first=self.rng.random() < 0.3,
            )
            return task, functools.partial(self.created, kind)
        return tasks[kind], functools.partial(self.created, kind)

    def created(self, kind: str, payment: dict[str, Any]) -> None:
        pid = payment["id"]
        if kind in OUTCOMES:
            self.outcomes[pid] = OUTCOMES[kind]
        elif kind == "auth":
            self.to_capture.append((pid, payment["amount"]))
        elif kind == "auth_dropped":
            self.to_drop.append(pid)
        elif kind == "konbini_later":
            self.to_pay.append(pid)
        elif kind in REFUNDABLE:
            self.captured(kind, payment)

    def captured(self, kind: str, payment: dict[str, Any]) -> None:
        assert payment["status"] == "captured", payment
        self.refundable[payment["id"]] = payment["total"] - payment["amount_refunded"]
        if kind != "paypay":
            self.tool_ok.add(payment["id"])

    def refunded(self, payment: dict[str, Any] | None) -> None:
        assert payment is not None, "a refund within what is left was refused"
        self.refundable[payment["id"]] = payment["total"] - payment["amount_refunded"]

    def followups(self) -> list[Task]:
        """Capture yesterday's authorizations (some partly), cancel some, pay some konbini."""
        tasks: list[Task] = []
        for pid, amount in self.to_capture:
            part = self.rng.randint(amount // 2, amount) if self.rng.random() < 0.4 else None
            task = functools.partial(lc.capture, payment_id=pid, amount=part)
            tasks.append((task, functools.partial(self.captured, "auth")))
        for pid in self.to_drop:
            if self.rng.random() < 0.5:  # the others expire after 7 days
                tasks.append((functools.partial(lc.cancel, payment_id=pid), lambda _: None))
        for pid in self.to_pay:
            tasks.append(
                (
                    functools.partial(lc.cash_paid, base_url=self.base_url, payment_id=pid),
                    lambda _: None,
                )
            )
        self.to_capture, self.to_drop, self.to_pay = [], [], []
        return tasks

    def refunds_and_disputes(self, step: int) -> list[Task]:
        tasks: list[Task] = []
        open_ = sorted(pid for pid, left in self.refundable.items() if left > 0)
        self.rng.shuffle(open_)
        if open_ and (tool := next((p for p in open_ if p in self.tool_ok), None)):
            open_.remove(tool)
            outcome = self.rng.choice(["won", "lost"])
            left = self.refundable.pop(tool)
            self.tool_ok.discard(tool)
            self.outcomes[tool] = outcome

            def tool_opened(cb: dict[str, Any], left: int = left) -> None:
                assert (cb["status"], cb["amount"]) == ("pending", left), cb

            task = functools.partial(lc.open_chargeback, payment_id=tool, outcome=outcome)
            tasks.append((task, tool_opened))
        for pid in open_[:3]:
            left = self.refundable[pid]
            amount = left if self.rng.random() < 0.2 else self.rng.randint(1, max(1, left // 2))
            tasks.append(
                (functools.partial(lc.refund, payment_id=pid, amount=amount), self.refunded)
            )
        if step % 3 == 0 and len(open_) > 3 and self.refundable[open_[3]] >= 3:
            pid = open_[3]  # two refunds that cannot both fit: exactly one is made
            amount = self.refundable[pid] * 6 // 10 + 1
            pair = [functools.partial(lc.refund, payment_id=pid, amount=amount)] * 2

            def raced(results: list[dict[str, Any] | None]) -> None:
                made = [r for r in results if r is not None]
                assert len(made) == 1, results
                self.refunded(made[0])

            tasks.append((functools.partial(lc.together, calls=pair), raced))
        if self.fresh:  # a payment under an open dispute cannot be refunded
            pid = self.fresh[0]["payment_id"]
            tasks.append(
                (functools.partial(lc.refund, payment_id=pid, amount=1), lc.refund_refused)
            )
        return tasks

    def answers(self) -> list[Task]:
        tasks: list[Task] = []
        for cb in self.fresh:
            how = self.rng.choices(["defend", "accept", "leave", "race"], [45, 20, 25, 10])[0]
            outcome = {"won": "cancelled", "lost": "lost"}[self.outcomes[cb["payment_id"]]]
            self.seen.add(cb["id"])
            if how == "leave":
                self.chargebacks[cb["id"]] = "expired"
                continue
            hows = ["accept", "defend"] if how == "race" else [how]
            calls = [
                functools.partial(lc.answer_chargeback, chargeback_id=cb["id"], how=h) for h in hows
            ]

            def answered(
                codes: list[int],
                cb_id: str = cb["id"],
                hows: list[str] = hows,
                outcome: str = outcome,
            ) -> None:
                assert sorted(codes) == ([204, 422] if len(hows) == 2 else [204]), codes
                won = hows[codes.index(204)]
                self.chargebacks[cb_id] = outcome if won == "defend" else "accepted"

            tasks.append((functools.partial(lc.together, calls=calls), answered))
        self.fresh = []
        return tasks

    def payouts(self, step: int, balance: int) -> list[Task]:
        tasks: list[Task] = []
        if balance >= 200_000:
            tasks.append((functools.partial(lc.payout, amount=balance // 10), self.expect("paid")))
            if step % 4 == 1:
                bad = functools.partial(lc.payout, amount=balance // 20, account=lc.FAILING_ACCOUNT)
                tasks.append((bad, self.expect("failed")))
            if step % 5 == 2:
                tasks.append(
                    (
                        functools.partial(lc.payout_cancelled, amount=balance // 20),
                        self.expect("cancelled"),
                    )
                )
        if step % 6 == 3:
            tasks.append(
                (
                    functools.partial(lc.refused_payout, amount=max(balance, 0) + 10**7),
                    lambda _: None,
                )
            )
        return tasks

    def expect(self, status: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: self.disbursements.__setitem__(d["id"], status)

    # --- running it -------------------------------------------------------------------

    def run(self, tasks: list[Task]) -> None:
        self.rng.shuffle(tasks)
        results = self.clients.run([task for task, _ in tasks])
        for (_, done), result in zip(tasks, results, strict=True):
            done(result)

    def balance(self) -> int:
        with self.clients.one() as c:
            return int(
                lc.ok(c.get("/balances/JPY"), "ShowBalance200Response")["total_balance_cents"]
            )

    def overdraw(self) -> None:
        """Six payouts of 30 % each of the balance at once: exactly three are made."""
        balance = self.balance()
        sent = self.clients.run([functools.partial(lc.disburse, amount=balance * 3 // 10)] * 6)
        made = [lc.disbursed(r) for r in sent if r.status_code == 200]
        for refused in (r for r in sent if r.status_code != 200):
            assert_error(refused, 422, "insufficient_balance", "amount")
        assert len(made) == 3, [r.text for r in sent]
        for d in made:
            self.disbursements[d["id"]] = "paid"

    def look(self) -> None:
        """The chargebacks opened since the last look (pending, not answered yet)."""
        with self.clients.one() as c:
            pending = lc.pages(c, "/chargeback_requests", "ChargebackRequestList", status="pending")
        self.fresh = [cb for cb in pending if cb["id"] not in self.seen]

    def move(self, to: datetime, racing: bool) -> None:
        """Move the clock to `to`; when `racing`, two moves at once (one may find it there)."""
        url = f"{self.base_url}/kessai/v1/clock"

        def send(_: httpx.Client) -> httpx.Response:
            auth = (self.merchant.secret_key, "")
            return httpx.post(url, json={"now": to.isoformat()}, auth=auth, timeout=600)

        for resp in self.clients.run([send, send] if racing else [send]):
            if resp.status_code != 200:  # the other move got there first
                assert_error(resp, 422, "invalid_parameter", "now")
        shown = httpx.get(url, auth=(self.merchant.secret_key, ""), timeout=30).json()
        now = datetime.fromisoformat(shown["now"].replace("Z", "+00:00"))
        assert now >= to, ("the clock runs behind where it was moved", to.isoformat(), shown)


def _schedule(rng: random.Random) -> list[tuple[timedelta, int]]:
    """The steps of the 90 days (1 to 3 days and 2 hours each) and how many payments each."""
    lengths: list[timedelta] = []
    while sum(lengths, timedelta()) < timedelta(days=DAYS):
        lengths.append(timedelta(days=rng.randint(1, 3)) + STEP_EXTRA)
    share, extra = divmod(PAYMENTS, len(lengths))
    return [(length, share + (i < extra)) for i, length in enumerate(lengths)]


def test_ninety_days_of_money_add_up(ledger_server: Server) -> None:
    merchant = ledger_server.merchant("Ledger Judge")
    clients = lc.Clients(merchant, 8)
    rng = random.Random(12)
    shop = Shop(merchant, clients, rng)
    try:
        now = datetime.now(lc.JST)
        at = now.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
        shop.move(at.astimezone(UTC), racing=False)
        steps = _schedule(rng)
        for step, (length, count) in enumerate(steps):
            if step == len(steps) // 3:
                shop.overdraw()
            tasks = [
                shop.new_payment(k) for k in rng.choices(list(KINDS), list(KINDS.values()), k=count)
            ]
            shop.expected.made += count
            tasks += shop.followups() + shop.refunds_and_disputes(step) + shop.answers()
            tasks += shop.payouts(step, shop.balance())
            shop.run(tasks)
            at += length
            shop.move(at, racing=step % 5 == 4)
            shop.look()
            if step in (len(steps) // 3, 2 * len(steps) // 3):
                with clients.one() as c:
                    audit(c, shop.expected, final=False)
        end = at + timedelta(days=FINAL_DAYS)
        while at < end:  # no new business; chargebacks are still answered
            shop.run(shop.answers())
            at += timedelta(days=3) + STEP_EXTRA
            shop.move(at, racing=False)
            shop.look()
        for cb in shop.fresh:  # opened at the last step: left to expire
            shop.chargebacks[cb["id"]] = "expired"
        shop.move(at + timedelta(days=10), racing=False)  # every defense decided, every wait over
        assert shop.expected.made == PAYMENTS
        with clients.one() as c:
            books = audit(c, shop.expected, final=True)
            settled = audit_settlements(c, books.transactions, at + timedelta(days=10))
            assert 12 <= settled <= 18, settled  # weekly, over 90 days and the wait after
            audit_events(c, books, settled)
    finally:
        clients.close()
    env = {"KESSAI_DATABASE_URL": ledger_server.database_url}
    done = kessai("ledger", "check", env=env, cwd=Path(ledger_server.workdir))
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    done = kessai(
        "ledger",
        "check",
        "--merchant",
        merchant.id,
        "--json",
        env=env,
        cwd=Path(ledger_server.workdir),
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    report = json.loads(done.stdout)
    assert report["ok"] and report["violations"] == [], report
    assert (report["transactions"], report["settlements"]) == (len(books.transactions), settled)
