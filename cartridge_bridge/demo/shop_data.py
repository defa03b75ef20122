"""Deterministic raw data of a small online coffee and tea shop for `cartridge demo`."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import NamedTuple


@dataclass(frozen=True)
class ShopColumn:
    """One column of a raw table, named exactly as in the warehouse."""

    name: str
    sql_type: str
    nullable: bool = True
    comment: str | None = None


@dataclass(frozen=True)
class ShopTable:
    """One raw table: its columns, primary key, comment and rows in column order."""

    name: str
    columns: tuple[ShopColumn, ...]
    primary_key: tuple[str, ...]
    comment: str | None
    rows: tuple[tuple[object, ...], ...]


_START = datetime(2024, 1, 1)
_END = datetime(2025, 12, 31, 23, 59, 59)
_CENT = Decimal("0.01")
_FREE_SHIPPING_FROM = Decimal("49.00")

_BASE_COUNTS = {"customers": 1000, "products": 60, "orders": 3000}

# Names per language so that a customer's name fits their country; all of Latin-1 so
# any client encoding of the demo database can carry them.
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("Lukas", "Anna", "Jonas", "Lena", "Felix", "Marie", "Paul", "Sophie", "Jürgen", "Lea"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Huber"),
    ),
    "fr": (
        ("Léa", "Hugo", "Chloé", "Mathis", "Inès", "Raphaël", "Camille", "Jean-Luc", "Zoë"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Lefèvre", "Girard"),
    ),
    "nl": (
        ("Daan", "Sanne", "Sem", "Emma", "Lotte", "Bram", "Fenna", "Thijs"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Peeters", "Janssens"),
    ),
    "es": (
        ("Lucía", "Mateo", "Sofía", "Hugo", "Martina", "Álvaro", "Paula", "Iñigo"),
        ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez"),
    ),
    "it": (
        ("Giulia", "Lorenzo", "Francesca", "Matteo", "Chiara", "Niccolò", "Sara"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo"),
    ),
    "en": (
        ("Olivia", "Liam", "Amelia", "Oliver", "Isla", "Noah", "Aoife", "Seán"),
        ("Smith", "Jones", "O'Brien", "Murphy", "Kelly", "Walsh", "Taylor", "Brown"),
    ),
    "pl": (
        ("Jakub", "Julia", "Zofia", "Antoni", "Maja", "Szymon"),
        ("Nowak", "Kowalski", "Wójcik", "Kowalczyk", "Lewandowski", "Mazur"),
    ),
    "nordic": (
        ("Elias", "Astrid", "Freja", "Emil", "Björn", "Ida", "Åsa"),
        ("Andersson", "Johansson", "Nielsen", "Hansen", "Karlsson", "Larsen"),
    ),
}
_COUNTRIES: dict[str, tuple[str, int]] = {
    "DE": ("de", 30), "FR": ("fr", 15), "NL": ("nl", 12), "ES": ("es", 8),
    "IT": ("it", 8), "BE": ("fr", 4), "AT": ("de", 6), "GB": ("en", 5),
    "IE": ("en", 3), "PL": ("pl", 3), "SE": ("nordic", 3), "DK": ("nordic", 3),
}  # fmt: skip
_DOMAINS = ("gmail.com", "outlook.com", "web.de", "gmx.de", "orange.fr", "yahoo.com",
            "proton.me", "icloud.com", "hotmail.com")  # fmt: skip

# category: (qualifiers, nouns, lowest and highest whole-euro price)
_CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...], int, int]] = {
    "coffee": (
        ("Ethiopia Yirgacheffe", "Colombia Huila", "Brazil Santos", "Kenya AA",
         "Guatemala Antigua", "Roaster's Choice", "House"),
        ("Espresso Beans 250g", "Filter Roast 250g", "Espresso Beans 1kg",
         "Decaf 250g"),
        7, 38,
    ),
    "tea": (
        ("Darjeeling", "Assam", "Sencha", "Rooibos", "Earl Grey", "Masala Chai"),
        ("Loose Leaf 100g", "Tea Bags (20)", "Tin 250g"),
        4, 26,
    ),
    "brewing": (
        ('Barista "Pro"', "Classic", "Travel", "Glass"),
        ("Pour-Over Dripper", "French Press", "Hand Grinder", "Gooseneck Kettle",
         "Scale"),
        14, 179,
    ),
    "accessories": (
        ("Ceramic", "Stainless", "Bamboo", "Enamel"),
        ("Mug", "Cup Set", "Storage Canister", "Milk Jug", "Tamper"),
        6, 45,
    ),
    "gifts": (
        ("Discovery", "Holiday", "Connoisseur"),
        ("Tasting Box", "Gift Set"),
        19, 89,
    ),
}  # fmt: skip

_STATUSES = ("placed", "shipped", "completed", "returned", "cancelled")
_PAYMENT_METHODS = {"credit_card": 55, "paypal": 30, "bank_transfer": 10, "gift_card": 5}
_GIFT_CARD_VALUES = (Decimal(10), Decimal(15), Decimal(25), Decimal(50))


def _col(name: str, sql_type: str, *, nullable: bool = False, comment: str | None = None) -> ShopColumn:
    return ShopColumn(name, sql_type, nullable, comment)


_COMMENTS = {
    "customers": "Shop customer accounts, one row per sign-up.",
    "products": "Product catalog of the shop, discontinued products included.",
    "orders": "Orders placed in the web shop.",
    "order_items": "Order lines: one product and its quantity per row.",
    "payments": "Payments made for orders; an order may be split over two.",
}
_CUSTOMER_COLUMNS = (
    _col("id", "integer"),
    _col("first_name", "text"),
    _col("last_name", "text"),
    _col("email", "text", comment="Lower-case login e-mail address, unique per customer"),
    _col("Country", "text", nullable=True, comment="ISO 3166-1 alpha-2 code of the billing address"),
    _col("createdAt", "timestamp", comment="When the account was created (UTC)"),
)
_PRODUCT_COLUMNS = (
    _col("id", "integer"),
    _col("sku", "text", comment="Stock keeping unit, unique"),
    _col("productName", "text"),
    _col("category", "text"),
    _col("unitPrice", "numeric(10,2)", comment="Current list price in EUR"),
    _col("is_active", "boolean", comment="False once the product is discontinued"),
)
_ORDER_COLUMNS = (
    _col("id", "integer"),
    _col("customer_id", "integer"),
    _col("status", "text", comment="One of placed, shipped, completed, returned, cancelled"),
    _col("ordered_at", "timestamp"),
    _col("shipping_cost", "numeric(10,2)", comment="Shipping charged in EUR; free from 49 EUR"),
)
_ORDER_ITEM_COLUMNS = (
    _col("id", "integer"),
    _col("order_id", "integer"),
    _col("product_id", "integer"),
    _col("quantity", "integer"),
    _col("unit_price", "numeric(10,2)", comment="Price per unit in EUR at the time of the order"),
)
_PAYMENT_COLUMNS = (
    _col("id", "integer"),
    _col("order_id", "integer"),
    _col("payment_method", "text"),
    _col("amount", "numeric(12,2)", comment="Amount paid in EUR"),
    _col("paid_at", "timestamp", nullable=True, comment="NULL while the payment is pending"),
)


class _Customer(NamedTuple):
    id: int
    first_name: str
    last_name: str
    email: str
    country: str | None
    created_at: datetime


class _Product(NamedTuple):
    id: int
    sku: str
    name: str
    category: str
    unit_price: Decimal
    is_active: bool


class _Order(NamedTuple):
    id: int
    customer_id: int
    status: str
    ordered_at: datetime
    shipping_cost: Decimal


class _OrderItem(NamedTuple):
    id: int
    order_id: int
    product_id: int
    quantity: int
    unit_price: Decimal


class _Payment(NamedTuple):
    id: int
    order_id: int
    payment_method: str
    amount: Decimal
    paid_at: datetime | None


def shop_tables(seed: int = 42, scale: float = 1.0) -> list[ShopTable]:
    """Return the raw tables of the sample shop, deterministic for a seed."""
    if not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    rng = random.Random(seed)
    counts = {name: max(1, round(base * scale)) for name, base in _BASE_COUNTS.items()}
    customers = _customers(rng, counts["customers"])
    products = _products(rng, counts["products"])
    orders, items = _orders_and_items(rng, counts["orders"], customers, products)
    payments = _payments(rng, orders, items)

    def table(
        name: str, columns: tuple[ShopColumn, ...], comment: str, records: Sequence[tuple[object, ...]]
    ) -> ShopTable:
        rows = tuple(tuple(record) for record in records)
        return ShopTable(name, columns, ("id",), comment, rows)

    return [
        table("customers", _CUSTOMER_COLUMNS, _COMMENTS["customers"], customers),
        table("products", _PRODUCT_COLUMNS, _COMMENTS["products"], products),
        table("orders", _ORDER_COLUMNS, _COMMENTS["orders"], orders),
        table("order_items", _ORDER_ITEM_COLUMNS, _COMMENTS["order_items"], items),
        table("payments", _PAYMENT_COLUMNS, _COMMENTS["payments"], payments),
    ]


def _pick(rng: random.Random, weighted: dict[str, int]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def _ascii_lower(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


def _email_local_part(rng: random.Random, first: str, last: str) -> str:
    first, last = _ascii_lower(first), _ascii_lower(last)
    return rng.choice((f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}"))


def _customers(rng: random.Random, count: int) -> list[_Customer]:
    span = int((_END - timedelta(days=30) - _START).total_seconds())
    country_weights = {code: weight for code, (_, weight) in _COUNTRIES.items()}
    taken: dict[str, int] = {}
    customers: list[_Customer] = []
    for customer_id in range(1, count + 1):
        code = _pick(rng, country_weights)
        firsts, lasts = _NAMES[_COUNTRIES[code][0]]
        first, last = rng.choice(firsts), rng.choice(lasts)
        # Older sign-up forms did not ask for the country.
        country = None if rng.random() < 0.03 else code
        local = _email_local_part(rng, first, last)
        seen = taken.get(local, 0)
        taken[local] = seen + 1
        email = f"{local}{seen + 1 if seen else ''}@{rng.choice(_DOMAINS)}"
        # Mode at the end of the range: the shop grows, so later sign-ups are denser.
        created = _START + timedelta(seconds=int(rng.triangular(0, span, span)))
        customers.append(_Customer(customer_id, first, last, email, country, created))
    return customers


def _products(rng: random.Random, count: int) -> list[_Product]:
    catalog = [
        (category, f"{qualifier} {noun}", low, high)
        for category, (qualifiers, nouns, low, high) in _CATALOG.items()
        for qualifier in qualifiers
        for noun in nouns
    ]
    rng.shuffle(catalog)
    products: list[_Product] = []
    for index in range(count):
        category, name, low, high = catalog[index % len(catalog)]
        if index >= len(catalog):
            name = f"{name} No. {index // len(catalog) + 1}"
        cents = Decimal(rng.choice(("0.99", "0.49", "0.95", "0.00")))
        price = Decimal(rng.randint(low, high)) + cents
        sku = f"{category[:3].upper()}-{1001 + index}"
        is_active = rng.random() < 0.9
        products.append(_Product(index + 1, sku, name, category, price, is_active))
    return products


def _status(rng: random.Random, ordered_at: datetime) -> str:
    age = _END - ordered_at
    if age < timedelta(days=2):
        return rng.choices(_STATUSES, weights=(70, 20, 0, 0, 10))[0]
    if age < timedelta(days=7):
        return rng.choices(_STATUSES, weights=(5, 65, 20, 0, 10))[0]
    return rng.choices(_STATUSES, weights=(0, 0, 86, 7, 7))[0]


def _order_times(
    rng: random.Random, count: int, customers: Sequence[_Customer]
) -> list[tuple[datetime, _Customer]]:
    # Skewed weights: a few loyal customers order often, many once or never.
    weights = [rng.expovariate(1.0) + 0.05 for _ in customers]
    placed = []
    for customer in rng.choices(customers, weights=weights, k=count):
        span = int((_END - customer.created_at).total_seconds())
        placed.append((customer.created_at + timedelta(seconds=rng.randint(60, span)), customer))
    # Order ids grow with time, as they would in the shop's database.
    placed.sort(key=lambda pair: (pair[0], pair[1].id))
    return placed


def _orders_and_items(
    rng: random.Random, count: int, customers: Sequence[_Customer], products: Sequence[_Product]
) -> tuple[list[_Order], list[_OrderItem]]:
    # Cumulative once: passing plain weights would re-sum them on every draw.
    product_cum_weights = list(accumulate(rng.expovariate(1.0) + 0.2 for _ in products))
    max_lines = max(1, min(6, len(products) // 2))
    orders: list[_Order] = []
    items: list[_OrderItem] = []
    placed = _order_times(rng, count, customers)
    for order_id, (ordered_at, customer) in enumerate(placed, start=1):
        lines = rng.choices((1, 2, 3, 4, 5, 6), weights=(38, 26, 17, 11, 5, 3))[0]
        chosen: list[_Product] = []
        while len(chosen) < min(lines, max_lines):
            product = rng.choices(products, cum_weights=product_cum_weights)[0]
            if product not in chosen:
                chosen.append(product)
        subtotal = Decimal(0)
        for product in chosen:
            quantity = rng.choices((1, 2, 3, 4), weights=(80, 14, 4, 2))[0]
            subtotal += product.unit_price * quantity
            item_id = len(items) + 1
            items.append(_OrderItem(item_id, order_id, product.id, quantity, product.unit_price))
        if subtotal >= _FREE_SHIPPING_FROM:
            shipping = Decimal("0.00")
        else:
            shipping = Decimal("4.95") if customer.country == "DE" else Decimal("7.95")
        status = _status(rng, ordered_at)
        orders.append(_Order(order_id, customer.id, status, ordered_at, shipping))
    return orders, items


def _paid_at(rng: random.Random, method: str, order: _Order) -> datetime | None:
    if order.status == "placed" and rng.random() < 0.3:
        return None  # still awaiting payment
    if method == "bank_transfer":
        delay = timedelta(days=rng.randint(1, 3), seconds=rng.randint(0, 36_000))
    else:
        delay = timedelta(seconds=rng.randint(5, 900))
    # A transfer that has not arrived by the end of the data is still pending.
    return None if order.ordered_at + delay > _END else order.ordered_at + delay


def _payments(rng: random.Random, orders: Sequence[_Order], items: Sequence[_OrderItem]) -> list[_Payment]:
    totals = {order.id: order.shipping_cost for order in orders}
    for item in items:
        totals[item.order_id] += item.unit_price * item.quantity
    payments: list[_Payment] = []
    for order in orders:
        # Order 1 always pays so that even the tiniest scale has a payment row.
        if order.status == "cancelled" and order.id != 1 and rng.random() < 0.5:
            continue  # cancelled before anyone paid
        remaining = totals[order.id]
        parts: list[tuple[str, Decimal]] = []
        gift = rng.choice(_GIFT_CARD_VALUES)
        if rng.random() < 0.08 and gift < remaining:
            parts.append(("gift_card", gift))
            remaining -= gift
        methods = dict(_PAYMENT_METHODS)
        if parts:
            del methods["gift_card"]
        parts.append((_pick(rng, methods), remaining))
        for method, amount in parts:
            paid_at = _paid_at(rng, method, order)
            payment_id = len(payments) + 1
            payments.append(_Payment(payment_id, order.id, method, amount.quantize(_CENT), paid_at))
    return payments
