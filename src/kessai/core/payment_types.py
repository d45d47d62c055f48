"""The catalogue of payment types kessai knows (contract section 6).

Which of them a merchant can actually use is the processor's business
(`Processor.supported_types`); this table says what each type is and what it can serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from kessai.core.money import CURRENCIES


@dataclass(frozen=True)
class PaymentType:
    slug: str
    kind: str  # "card", "cash" or "wallet"
    currencies: tuple[str, ...]
    name_en: str
    name_ja: str
    name_ko: str
    customer_modes: bool = False  # may be offered in customer / customer_payment modes

    @property
    def offsite(self) -> bool:
        return self.kind == "wallet"


_JPY = ("JPY",)

PAYMENT_TYPES: dict[str, PaymentType] = {
    t.slug: t
    for t in (
        PaymentType("credit_card", "card", CURRENCIES, "Credit Card", "クレジットカード",
                    "신용카드", customer_modes=True),
        PaymentType("konbini", "cash", _JPY, "Konbini", "コンビニ", "편의점 결제"),
        PaymentType("bank_transfer", "cash", _JPY, "Bank Transfer", "銀行振込", "은행 송금"),
        PaymentType("pay_easy", "cash", _JPY, "Pay-easy", "ペイジー", "페이지"),
        PaymentType("paypay", "wallet", _JPY, "PayPay", "PayPay", "PayPay"),
        PaymentType("linepay", "wallet", _JPY, "LINE Pay", "LINE Pay", "LINE Pay"),
        PaymentType("merpay", "wallet", _JPY, "Merpay", "メルペイ", "메르페이"),
        PaymentType("rakutenpay", "wallet", _JPY, "Rakuten Pay", "楽天ペイ", "라쿠텐 페이"),
        PaymentType("aupay", "wallet", _JPY, "au PAY", "au PAY", "au PAY"),
        PaymentType("alipay", "wallet", ("JPY", "CNY"), "Alipay", "アリペイ", "알리페이"),
        PaymentType("wechatpay", "wallet", ("JPY", "CNY"), "WeChat Pay", "WeChat Pay",
                    "위챗페이"),
        PaymentType("paidy", "wallet", _JPY, "Paidy", "ペイディ", "페이디"),
    )
}  # fmt: skip

CARD_BRANDS = ("visa", "master", "jcb", "american_express", "diners_club", "discover")


def serves(ptype: PaymentType, currency: str, session_mode: str) -> bool:
    if currency not in ptype.currencies:
        return False
    return session_mode == "payment" or ptype.customer_modes


# Store slugs on the wire, with the names customers know (translated on the hosted page).
STORE_NAMES = {
    "seven-eleven": "7-Eleven", "lawson": "Lawson", "family-mart": "FamilyMart",
    "ministop": "Ministop", "daily-yamazaki": "Daily Yamazaki", "seicomart": "Seicomart",
}  # fmt: skip
KONBINI_STORES = tuple(STORE_NAMES)
