"""Generate the synthetic churn sample dataset: weekly batches of customer snapshots with a churn label.

The files under data/churn/ are committed *and* reproducible: running this script with the defaults
rewrites them byte for byte (tests/unit/test_sample_data.py checks that). Only numpy and the standard
library are used, and no network, so the data can be rebuilt anywhere.

    python data/generate.py                       # rewrite data/churn/ingest_date=*/customers.csv
    python data/generate.py --out /tmp/churn      # write elsewhere
    python data/generate.py --rows 500 --batches 5 --seed 7

The label comes from a logistic model of the features plus unobserved noise, so a model can learn it
but not perfectly (ROC AUC around 0.85, like real churn data). A handful of deliberately bad rows are
injected into every batch so that the preprocessing step has something to reject; see data/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The schema the config declares; order matters (it is the file order).
COLUMNS: tuple[str, ...] = (
    "customer_id",
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "plan",
    "contract",
    "payment_method",
    "support_calls",
    "has_partner",
    "paperless_billing",
    "region",
    "last_login_days",
    "churned",
)
PLANS: tuple[str, ...] = ("basic", "pro", "team")
CONTRACTS: tuple[str, ...] = ("monthly", "annual", "two_year")
PAYMENT_METHODS: tuple[str, ...] = ("card", "bank_transfer", "invoice", "paypal")
REGIONS: tuple[str, ...] = ("north", "south", "east", "west")

DEFAULT_SEED = 20260105
DEFAULT_ROWS = 1200
DEFAULT_BATCHES = 3
FIRST_INGEST_DATE = dt.date(2026, 1, 5)
PRODUCT_AGE_MONTHS = 132.0  # the (fictional) service launched eleven years before the first batch
BATCH_INTERVAL = dt.timedelta(days=7)
DEFAULT_OUT = Path(__file__).resolve().parent / "churn"

# Per batch: how many rows of each bad kind, exact duplicate rows, and re-appearing customers (from the
# second batch on). Small on purpose: ~1% of the rows are bad, as in a reasonably healthy real feed.
BAD_ROWS_PER_KIND = 2
DUPLICATE_ROWS = 2
RETURNING_CUSTOMERS = 4
BAD_KINDS: tuple[str, ...] = (
    "unknown_plan",  # plan = enterprise, not a declared category
    "negative_tenure",  # tenure_months < 0
    "non_numeric_charges",  # monthly_charges like "n/a" or "12,5O"
    "missing_target",  # churned is empty
    "invalid_target",  # churned = maybe
)
# Used in turn, so every batch has both: "n/a" (which pandas reads as NaN by default) and "12,5O" (a
# decimal comma and a letter O, which no numeric parser accepts; the comma also forces CSV quoting).
NON_NUMERIC_CHARGES: tuple[str, ...] = ("n/a", "12,5O")

# Share of legitimately missing values (not bad rows: the schema declares these columns nullable).
MISSING_SHARE = {"total_charges": 0.02, "region": 0.01, "last_login_days": 0.03}


@dataclass
class Batch:
    """One generated batch: its rows (formatted as CSV strings) and what was injected where."""

    ingest_date: dt.date
    rows: list[list[str]]
    bad_rows: dict[str, list[str]] = field(default_factory=dict)  # kind -> customer_ids
    returning: list[str] = field(default_factory=list)  # customer_ids seen in the previous batch
    # The batch's new customers before corruption, so the next batch can bring some of them back.
    new_ids: list[str] = field(default_factory=list, repr=False)
    new_features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    new_churned: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return result


def _draw_features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw n customers' true feature values (no missing values, no bad values yet).

    The features are correlated the way they tend to be in subscription businesses: longer contracts
    go with longer tenure, bigger plans cost more, paperless billing goes with online payment.
    """
    contract = rng.choice(np.array(CONTRACTS), size=n, p=[0.55, 0.25, 0.20])
    mean_tenure = np.select([contract == "monthly", contract == "annual"], [14.0, 30.0], 46.0)
    raw_tenure = rng.gamma(shape=1.4, scale=mean_tenure / 1.4)
    # Nobody can be a customer for longer than the product exists: redraw those (clipping would pile
    # them up on one value, which real data does not show).
    too_old = raw_tenure > PRODUCT_AGE_MONTHS
    raw_tenure[too_old] = rng.uniform(0.0, PRODUCT_AGE_MONTHS, int(too_old.sum()))
    tenure = raw_tenure.astype(np.int64)
    plan = rng.choice(np.array(PLANS), size=n, p=[0.50, 0.35, 0.15])
    base_price = np.select([plan == "basic", plan == "pro"], [29.0, 64.0], 99.0)
    monthly = np.round(np.clip(base_price + rng.normal(0.0, 9.0, n), 5.0, 400.0), 2)
    # What was actually billed drifts from tenure * today's price (price changes, discounts).
    total = np.round(np.maximum(tenure * monthly * rng.normal(1.0, 0.05, n), 0.0), 2)
    payment = rng.choice(np.array(PAYMENT_METHODS), size=n, p=[0.40, 0.25, 0.20, 0.15])
    online = (payment == "card") | (payment == "paypal")
    paperless = rng.random(n) < np.where(online, 0.72, 0.45)
    partner = rng.random(n) < 0.45
    # Overdispersed counts (a gamma-Poisson mixture): most customers never call, a few call a lot.
    support_calls = np.minimum(rng.poisson(rng.gamma(shape=1.2, scale=1.25, size=n)), 100)
    region = rng.choice(np.array(REGIONS), size=n, p=[0.30, 0.20, 0.25, 0.25])
    last_login = np.minimum(np.exp(rng.normal(2.1, 1.1, n)), 3650.0).astype(np.int64)
    return {
        "tenure_months": tenure,
        "monthly_charges": monthly,
        "total_charges": total,
        "plan": plan,
        "contract": contract,
        "payment_method": payment,
        "support_calls": support_calls,
        "has_partner": partner,
        "paperless_billing": paperless,
        "region": region,
        "last_login_days": last_login,
    }


def _churn(rng: np.random.Generator, f: dict[str, np.ndarray]) -> np.ndarray:
    """Draw the label from a logistic model of the features plus unobserved per-customer noise.

    The noise term (things the data does not record: a competitor's offer, a move) is what keeps a
    model's ROC AUC realistic (~0.85) instead of near-perfect.
    """
    z = (
        -2.05
        + 1.40 * (f["contract"] == "monthly")
        - 1.60 * (f["contract"] == "two_year")
        - 0.85 * (np.log1p(f["tenure_months"]) - 2.5)
        + 0.45 * (f["support_calls"] - 1.5)
        + 0.027 * (f["monthly_charges"] - 55.0)
        + 0.40 * f["paperless_billing"]
        + 0.70 * (np.log1p(f["last_login_days"]) - 2.3)
        - 0.55 * f["has_partner"]
        + 0.30 * (f["payment_method"] == "invoice")
        + rng.normal(0.0, 0.5, len(f["plan"]))
    )
    return rng.random(len(z)) < _sigmoid(z)


def _yes_no(flag: bool | np.bool_) -> str:
    return "yes" if flag else "no"


def _format_rows(
    rng: np.random.Generator, ids: Sequence[str], f: dict[str, np.ndarray], churned: np.ndarray
) -> list[list[str]]:
    """Turn the arrays into CSV string rows, blanking the legitimately missing values."""
    n = len(ids)
    missing = {name: rng.random(n) < share for name, share in MISSING_SHARE.items()}
    rows = []
    for i in range(n):
        row = [
            ids[i],
            str(int(f["tenure_months"][i])),
            f"{f['monthly_charges'][i]:.2f}",
            "" if missing["total_charges"][i] else f"{f['total_charges'][i]:.2f}",
            str(f["plan"][i]),
            str(f["contract"][i]),
            str(f["payment_method"][i]),
            str(int(f["support_calls"][i])),
            _yes_no(f["has_partner"][i]),
            _yes_no(f["paperless_billing"][i]),
            "" if missing["region"][i] else str(f["region"][i]),
            "" if missing["last_login_days"][i] else str(int(f["last_login_days"][i])),
            _yes_no(churned[i]),
        ]
        rows.append(row)
    return rows


def _corrupt(rng: np.random.Generator, row: list[str], kind: str, nth: int) -> None:
    """Introduce one defect of the given kind into a row, in place (nth: which row of this kind)."""
    col = COLUMNS.index
    if kind == "unknown_plan":
        row[col("plan")] = "enterprise"
    elif kind == "negative_tenure":
        row[col("tenure_months")] = str(-int(rng.integers(1, 13)))
    elif kind == "non_numeric_charges":
        row[col("monthly_charges")] = NON_NUMERIC_CHARGES[nth % len(NON_NUMERIC_CHARGES)]
    elif kind == "missing_target":
        row[col("churned")] = ""
    elif kind == "invalid_target":
        row[col("churned")] = "maybe"
    else:
        raise ValueError(f"unknown bad-row kind {kind!r}")


def _returning_rows(rng: np.random.Generator, previous: Batch, count: int) -> tuple[list[list[str]], list[str]]:
    """Customers from the previous batch who show up again with updated values.

    Only clean, not-churned customers come back (a churned customer has left). Their tenure moves on a
    month, their bill accrues, their activity changes, and the label is drawn afresh from the new values.
    """
    bad_ids = {cid for ids in previous.bad_rows.values() for cid in ids}
    candidates = [i for i, cid in enumerate(previous.new_ids) if cid not in bad_ids and not previous.new_churned[i]]
    picked = np.sort(rng.choice(np.array(candidates), size=count, replace=False))
    f = {name: values[picked].copy() for name, values in previous.new_features.items()}
    f["tenure_months"] = f["tenure_months"] + 1
    f["total_charges"] = np.round(f["total_charges"] + f["monthly_charges"], 2)
    f["support_calls"] = np.minimum(f["support_calls"] + rng.poisson(0.5, count), 100)
    f["last_login_days"] = np.minimum(np.exp(rng.normal(2.1, 1.1, count)), 3650.0).astype(np.int64)
    ids = [previous.new_ids[i] for i in picked]
    return _format_rows(rng, ids, f, _churn(rng, f)), ids


def generate_batches(rows: int = DEFAULT_ROWS, batches: int = DEFAULT_BATCHES, seed: int = DEFAULT_SEED) -> list[Batch]:
    """Build every batch in memory. Deterministic for a given (rows, batches, seed)."""
    minimum = BAD_ROWS_PER_KIND * len(BAD_KINDS) + DUPLICATE_ROWS + RETURNING_CUSTOMERS + 20
    if rows < minimum:
        raise ValueError(f"rows per batch must be at least {minimum} to fit the injected rows")
    if batches < 1:
        raise ValueError("there must be at least one batch")
    result: list[Batch] = []
    next_id = 1
    for b in range(batches):
        # One stream per batch, so that batch b never depends on how many draws batch b-1 made.
        rng = np.random.default_rng([seed, b])
        returning = RETURNING_CUSTOMERS if result else 0
        n_new = rows - DUPLICATE_ROWS - returning
        ids = [f"C{next_id + i:07d}" for i in range(n_new)]
        next_id += n_new
        features = _draw_features(rng, n_new)
        churned = _churn(rng, features)
        batch = Batch(
            ingest_date=FIRST_INGEST_DATE + b * BATCH_INTERVAL,
            rows=_format_rows(rng, ids, features, churned),
            new_ids=ids,
            new_features=features,
            new_churned=churned,
        )

        # Bad rows: distinct new customers, one defect each.
        victims = rng.choice(n_new, size=BAD_ROWS_PER_KIND * len(BAD_KINDS), replace=False)
        for k, kind in enumerate(BAD_KINDS):
            chosen = np.sort(victims[k * BAD_ROWS_PER_KIND : (k + 1) * BAD_ROWS_PER_KIND])
            for nth, i in enumerate(chosen):
                _corrupt(rng, batch.rows[i], kind, nth)
            batch.bad_rows[kind] = [ids[i] for i in chosen]

        # Exact duplicates of otherwise clean rows: a re-sent record, as at-least-once feeds do.
        clean = np.setdiff1d(np.arange(n_new), victims)
        sources = np.sort(rng.choice(clean, size=DUPLICATE_ROWS, replace=False))
        extra = [list(batch.rows[i]) for i in sources]
        batch.bad_rows["exact_duplicate"] = [ids[i] for i in sources]

        if returning:
            back, batch.returning = _returning_rows(rng, result[-1], returning)
            extra.extend(back)
        # Shuffle so that duplicates and re-appearing customers do not sit conveniently at the end.
        all_rows = batch.rows + extra
        batch.rows = [all_rows[i] for i in rng.permutation(len(all_rows))]
        result.append(batch)
    return result


def batch_path(out_dir: Path, ingest_date: dt.date) -> Path:
    """Hive-style partition folder, so a reader can treat ingest_date as a column."""
    return out_dir / f"ingest_date={ingest_date.isoformat()}" / "customers.csv"


def write_batch(out_dir: Path, batch: Batch) -> Path:
    """Write one batch as CSV: header, comma separated, \\n line endings, UTF-8, no index column."""
    path = batch_path(out_dir, batch.ingest_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(batch.rows)
    return path


def generate(
    out_dir: Path = DEFAULT_OUT,
    rows: int = DEFAULT_ROWS,
    batches: int = DEFAULT_BATCHES,
    seed: int = DEFAULT_SEED,
) -> list[tuple[Path, Batch]]:
    """Generate and write every batch under out_dir; returns the written paths with their batches."""
    return [(write_batch(out_dir, batch), batch) for batch in generate_batches(rows, batches, seed)]


def _summary(path: Path, batch: Batch) -> str:
    labels = [row[-1] for row in batch.rows if row[-1] in ("yes", "no")]
    churn_rate = sum(label == "yes" for label in labels) / len(labels)
    lines = [f"{path}: {len(batch.rows)} rows, {path.stat().st_size} bytes, churn rate {churn_rate:.1%}"]
    lines += [f"  {kind}: {', '.join(ids)}" for kind, ids in batch.bad_rows.items()]
    if batch.returning:
        lines.append(f"  returning (not bad, updated values): {', '.join(batch.returning)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/churn)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows per batch")
    parser.add_argument("--batches", type=int, default=DEFAULT_BATCHES, help="number of weekly batches")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--quiet", action="store_true", help="do not print a summary")
    args = parser.parse_args(argv)
    try:
        written = generate(args.out, args.rows, args.batches, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.quiet:
        for path, batch in written:
            print(_summary(path, batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
