"""Generator arguments, random-stream derivation and fixed tuning constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum

import numpy as np

# Customers are simulated in fixed-size chunks. The size is a constant (never derived
# from available memory) so that the output only depends on the arguments.
CHUNK_SIZE = 10_000


class Purpose(IntEnum):
    """Independent random streams: one per purpose (and per chunk where relevant)."""

    CALENDAR = 1
    CATALOG = 2
    PEOPLE = 3
    WARMTH = 4
    EMAIL = 5
    ORDERS = 6
    BASKETS = 7
    GUESTS = 8
    WEB = 9
    INVENTORY = 10
    DEFECTS_ORDERS = 11
    DEFECTS_CUSTOMERS = 12
    DEFECTS_PRODUCTS = 13
    DEFECTS_INVENTORY = 14
    DEFECTS_WEB = 15
    DEFECTS_EMAIL = 16
    TIERS = 17
    FRAUD = 18
    SUBCENT = 19


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int = 1500
    days: int = 731
    seed: int = 42
    start: date = field(default=date(2024, 1, 1))
    defect_rate: float = 0.02
    # Share of order lines sold at a discounted price below the cent (11.184, 13.326667) and of known
    # product costs given below the cent; 0 keeps every amount in whole cents (the committed sample).
    subcent_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be >= 1")
        if self.days < 28:
            raise ValueError("days must be >= 28 (the weekly processes need a few weeks)")
        if not 0.0 <= self.defect_rate <= 0.5:
            raise ValueError("defect_rate must be within [0, 0.5]")
        if not 0.0 <= self.subcent_rate <= 1.0:
            raise ValueError("subcent_rate must be within [0, 1]")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")

    @property
    def end(self) -> date:
        """Last simulated day (inclusive)."""
        return self.start + timedelta(days=self.days - 1)

    @property
    def n_chunks(self) -> int:
        return -(-self.customers // CHUNK_SIZE)

    def chunk_bounds(self, chunk: int) -> tuple[int, int]:
        """Customer numbers [lo, hi) (1-based numbering) of a chunk."""
        lo = chunk * CHUNK_SIZE + 1
        return lo, min(lo + CHUNK_SIZE, self.customers + 1)

    def rng(self, purpose: Purpose, chunk: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(purpose), chunk])

    def as_manifest(self) -> dict[str, object]:
        return {
            "customers": self.customers,
            "days": self.days,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "defect_rate": self.defect_rate,
            "chunk_size": CHUNK_SIZE,
            # only when used, so that a folder made without it keeps its manifest byte for byte
            **({"subcent_rate": self.subcent_rate} if self.subcent_rate else {}),
        }
