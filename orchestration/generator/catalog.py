"""The product catalogue: 200 products in 8 categories with brands, prices, margins and companions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import GeneratorConfig, Purpose


@dataclass(frozen=True)
class CategorySpec:
    name: str
    n_products: int
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    price_median: float  # euros, lognormal median
    price_sigma: float
    margin: float  # average gross margin, differs strongly between categories
    return_rate: float  # probability an order of this category is returned
    quantity_probs: tuple[float, float, float, float]  # P(quantity = 1..4)
    companion_categories: tuple[str, ...]  # where a product's "bought together" partners come from


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("Electronics", 30, ("Voltix", "Auralis", "Kinetica", "Pixelon", "Sonora"),
                 ("Wireless Earbuds", "Bluetooth Speaker", "Smart Watch", "USB-C Charger", "Power Bank",
                  "Noise-Cancelling Headphones", "Webcam", "Mechanical Keyboard", "Wireless Mouse",
                  "Tablet Stand", "E-Reader", "Action Camera", "Phone Case", "HDMI Cable", "Smart Plug"),
                 95.0, 0.85, 0.15, 0.06, (0.90, 0.08, 0.015, 0.005), ("Electronics",)),
    CategorySpec("Fashion", 35, ("Maison Lune", "Northwind", "Atelier Sept", "Urbano", "Velours"),
                 ("Linen Shirt", "Slim Jeans", "Wool Sweater", "Rain Jacket", "Leather Belt", "Sneakers",
                  "Summer Dress", "Chino Trousers", "Cotton T-Shirt", "Silk Scarf", "Ankle Boots",
                  "Knit Beanie", "Denim Jacket", "Canvas Tote"),
                 42.0, 0.55, 0.55, 0.16, (0.80, 0.14, 0.04, 0.02), ("Fashion", "Beauty")),
    CategorySpec("Home & Kitchen", 30, ("Casa Verde", "Ferro & Co", "Hearthly", "Nordhem"),
                 ("Chef Knife", "Cast Iron Pan", "French Press", "Linen Napkins", "Storage Jars",
                  "Scented Candle", "Cutting Board", "Ceramic Mug Set", "Throw Blanket", "Desk Lamp",
                  "Espresso Cups", "Bath Towels", "Spice Rack"),
                 34.0, 0.70, 0.40, 0.05, (0.78, 0.15, 0.05, 0.02), ("Home & Kitchen", "Grocery")),
    CategorySpec("Beauty", 25, ("Lumière", "Botanica", "Velvet Rose", "Pure Skin"),
                 ("Face Serum", "Night Cream", "Lip Balm", "Shampoo Bar", "Hand Cream", "Eau de Parfum",
                  "Clay Mask", "Body Lotion", "Mascara", "Sunscreen SPF50", "Cleansing Oil"),
                 21.0, 0.55, 0.60, 0.03, (0.65, 0.22, 0.08, 0.05), ("Beauty", "Fashion")),
    CategorySpec("Sports & Outdoors", 25, ("Alpenstock", "Trailhead", "Stride", "Peakline"),
                 ("Yoga Mat", "Running Shoes", "Water Bottle", "Hiking Backpack", "Resistance Bands",
                  "Cycling Gloves", "Trekking Poles", "Headlamp", "Sports Socks", "Foam Roller",
                  "Camping Mug"),
                 38.0, 0.70, 0.35, 0.07, (0.80, 0.14, 0.04, 0.02), ("Sports & Outdoors", "Fashion")),
    CategorySpec("Books", 20, ("Éditions Clair", "Penwright", "Inkwell Press"),
                 ("Cookbook", "Travel Guide", "Mystery Novel", "Graphic Novel", "Poetry Collection",
                  "History of Europe", "Children's Atlas", "Sci-Fi Trilogy", "Gardening Handbook"),
                 15.0, 0.35, 0.25, 0.02, (0.85, 0.10, 0.03, 0.02), ("Books", "Toys & Games")),
    CategorySpec("Toys & Games", 20, ("Playforge", "Little Owl", "Brickworks"),
                 ("Board Game", "Puzzle 1000 Pieces", "Building Set", "Plush Bear", "Card Game",
                  "Wooden Train", "Science Kit", "Remote Control Car"),
                 27.0, 0.60, 0.35, 0.04, (0.82, 0.12, 0.04, 0.02), ("Toys & Games", "Books")),
    CategorySpec("Grocery", 15, ("Terroir", "Green Basket", "Café Noir"),
                 ("Coffee Beans", "Olive Oil", "Dark Chocolate", "Green Tea", "Honey Jar", "Pasta Pack",
                  "Granola", "Sea Salt"),
                 9.0, 0.45, 0.20, 0.01, (0.45, 0.30, 0.15, 0.10), ("Grocery", "Home & Kitchen")),
)
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
N_CATEGORIES = len(CATEGORIES)

# Product lines give readable names ("Aurora Wireless Earbuds").
PRODUCT_LINES = (
    "Aurora", "Nova", "Summit", "Solstice", "Horizon", "Cobalt", "Ember", "Meridian", "Willow",
    "Atlas", "Zephyr", "Juniper", "Orion", "Sierra", "Mistral", "Vega", "Lotus", "Harbor",
)

# Price taste of a shopper: cheap items, neutral, premium. Product weights are tilted by price**exponent.
PRICE_TASTE_EXPONENTS = (-1.3, 0.0, 0.8)


@dataclass(frozen=True)
class Catalog:
    product_id: np.ndarray  # (P,) str
    name: np.ndarray  # (P,) str
    brand: np.ndarray  # (P,) str
    category: np.ndarray  # (P,) int category index; products are grouped by category
    price_cents: np.ndarray  # (P,) int64 list price
    cost_cents: np.ndarray  # (P,) int64 (meaningless where cost_known is False)
    cost_known: np.ndarray  # (P,) bool
    popularity: np.ndarray  # (P,) Zipf-like weight, sums to 1 within each category
    companions: np.ndarray  # (P, 2) int, second companion is -1 when a product has only one
    cat_start: np.ndarray  # (C,) index of the first product of each category
    cat_size: np.ndarray  # (C,)
    # (3 tastes, C, max products) cumulative product choice probabilities within a category
    choice_cdf: np.ndarray

    @property
    def n(self) -> int:
        return len(self.product_id)

    def draw_products(self, rng: np.random.Generator, category: np.ndarray, taste: np.ndarray) -> np.ndarray:
        """Draw one product per requested (category, taste) pair, following the choice CDFs."""
        u = rng.random(len(category))
        local = np.zeros(len(category), dtype=np.int64)
        for t in range(self.choice_cdf.shape[0]):
            for c in range(len(self.cat_start)):
                sel = np.flatnonzero((category == c) & (taste == t))
                if sel.size:
                    cdf = self.choice_cdf[t, c, : self.cat_size[c]]
                    local[sel] = np.minimum(np.searchsorted(cdf, u[sel], side="right"), self.cat_size[c] - 1)
        return self.cat_start[category] + local


def build_catalog(cfg: GeneratorConfig) -> Catalog:
    rng = cfg.rng(Purpose.CATALOG)
    ids: list[str] = []
    names: list[str] = []
    brands: list[str] = []
    cats: list[int] = []
    prices: list[int] = []
    margins: list[float] = []
    for ci, spec in enumerate(CATEGORIES):
        combos = [(line, noun) for noun in spec.nouns for line in PRODUCT_LINES]
        picks = rng.choice(len(combos), size=spec.n_products, replace=False)
        raw = np.exp(np.log(spec.price_median) + spec.price_sigma * rng.standard_normal(spec.n_products))
        endings = rng.choice(np.array([99, 90, 50, 0]), size=spec.n_products, p=[0.5, 0.25, 0.15, 0.1])
        for k in range(spec.n_products):
            line, noun = combos[int(picks[k])]
            ids.append(f"P{len(ids) + 1:04d}")
            names.append(f"{line} {noun}")
            brands.append(spec.brands[int(rng.integers(len(spec.brands)))])
            cats.append(ci)
            prices.append(max(199, int(np.floor(raw[k])) * 100 + int(endings[k])))
            margins.append(float(np.clip(spec.margin + 0.05 * rng.standard_normal(), 0.03, 0.85)))
    price = np.array(prices, dtype=np.int64)
    margin = np.array(margins)
    cost = np.round(price * (1.0 - margin)).astype(np.int64)
    cost_known = rng.random(len(price)) >= 0.03
    category = np.array(cats, dtype=np.int64)
    cat_size = np.array([s.n_products for s in CATEGORIES], dtype=np.int64)
    cat_start = np.concatenate([[0], np.cumsum(cat_size)[:-1]])

    # Zipf popularity within category, ranks shuffled so product numbering carries no signal.
    popularity = np.zeros(len(price))
    for ci in range(N_CATEGORIES):
        n = int(cat_size[ci])
        ranks = rng.permutation(n) + 1
        w = 1.0 / ranks**1.05
        popularity[cat_start[ci] : cat_start[ci] + n] = w / w.sum()

    max_n = int(cat_size.max())
    choice_cdf = np.ones((len(PRICE_TASTE_EXPONENTS), N_CATEGORIES, max_n))
    for t, expo in enumerate(PRICE_TASTE_EXPONENTS):
        for ci in range(N_CATEGORIES):
            sl = slice(cat_start[ci], cat_start[ci] + cat_size[ci])
            w = popularity[sl] * (price[sl] / np.median(price[sl])) ** expo
            choice_cdf[t, ci, : cat_size[ci]] = np.cumsum(w) / w.sum()

    # Companions: 1-2 partners per product, from the same or an affine category, popular ones favoured.
    name_to_idx = {n: i for i, n in enumerate(CATEGORY_NAMES)}
    companions = -np.ones((len(price), 2), dtype=np.int64)
    for p in range(len(price)):
        spec = CATEGORIES[int(category[p])]
        k = 1 if rng.random() < 0.45 else 2
        for j in range(k):
            cc = name_to_idx[spec.companion_categories[0 if (j == 0 or rng.random() < 0.5) else -1]]
            sl = np.arange(cat_start[cc], cat_start[cc] + cat_size[cc])
            w = popularity[sl] + 0.02
            w[sl == p] = 0.0
            w[sl == companions[p, 0]] = 0.0
            companions[p, j] = int(rng.choice(sl, p=w / w.sum()))
    return Catalog(
        product_id=np.array(ids),
        name=np.array(names),
        brand=np.array(brands),
        category=category,
        price_cents=price,
        cost_cents=cost,
        cost_known=cost_known,
        popularity=popularity,
        companions=companions,
        cat_start=cat_start,
        cat_size=cat_size,
        choice_cdf=choice_cdf,
    )


CATEGORY_RETURN_RATE = np.array([c.return_rate for c in CATEGORIES])
CATEGORY_QUANTITY_CDF = np.cumsum(np.array([c.quantity_probs for c in CATEGORIES]), axis=1)
