"""Countries, names, cities and address formats for the nine markets the shop ships to."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class City:
    name: str
    code: str  # postcode base: digits, or a prefix for alphanumeric systems
    spread: int  # how many postcodes after the base are used
    region: str = ""  # state / province where the address format needs it


@dataclass(frozen=True)
class Country:
    name: str
    weight: float
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[City, ...]
    city_weights: tuple[float, ...]
    streets: tuple[str, ...]
    number_first: bool  # "12 Rue de la Paix" vs "Hauptstraße 12"
    postcode: str  # "digits5", "digits4", "uk", "nl", "us", "ca"
    domains: tuple[str, ...]
    misspellings: tuple[str, ...]  # how other systems type this country


COUNTRIES: tuple[Country, ...] = (
    Country("France", 0.26,
            ("Camille", "Léa", "Manon", "Chloé", "Inès", "Louise", "Hugo", "Lucas", "Théo", "Jules",
             "Nicolas", "Julien", "Élodie", "Mathieu", "Sophie", "Antoine"),
            ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
             "Moreau", "Lefèvre", "Girard", "Fontaine", "Rousseau", "Faure", "Mercier"),
            (City("Paris", "75001", 19), City("Lyon", "69001", 8), City("Marseille", "13001", 15),
             City("Toulouse", "31000", 500), City("Bordeaux", "33000", 800), City("Lille", "59000", 800),
             City("Nantes", "44000", 300), City("Nice", "06000", 300), City("Strasbourg", "67000", 200)),
            (0.32, 0.12, 0.1, 0.09, 0.08, 0.08, 0.08, 0.07, 0.06),
            ("Rue de la Paix", "Avenue Victor Hugo", "Boulevard Voltaire", "Rue du Faubourg Saint-Antoine",
             "Place de la République", "Rue de l'Église", "Rue Oberkampf", "Avenue Jean Jaurès",
             "Rue des Lilas", "Quai de la Loire"),
            True, "digits5", ("orange.fr", "free.fr", "laposte.net", "gmail.com", "outlook.fr"),
            ("france", "FR", "FRANCE", "Fr", "République française")),
    Country("Germany", 0.17,
            ("Lukas", "Leon", "Finn", "Paul", "Jonas", "Anna", "Lena", "Mia", "Hannah", "Sophie", "Felix",
             "Katrin", "Jürgen", "Sabine"),
            ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
             "Hoffmann", "Koch", "Richter", "Wolf", "Schäfer"),
            (City("Berlin", "10115", 2300), City("Hamburg", "20095", 1500), City("München", "80331", 1600),
             City("Köln", "50667", 1100), City("Frankfurt am Main", "60311", 300),
             City("Stuttgart", "70173", 400), City("Düsseldorf", "40210", 400),
             City("Leipzig", "04103", 250)),
            (0.25, 0.16, 0.16, 0.12, 0.09, 0.08, 0.08, 0.06),
            ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Goethestraße", "Lindenallee",
             "Kirchplatz", "Bergstraße", "Am Markt"),
            False, "digits5", ("gmx.de", "web.de", "t-online.de", "gmail.com"),
            ("Deutschland", "germany", "DE", "GERMANY", "Allemagne")),
    Country("United Kingdom", 0.14,
            ("Oliver", "George", "Harry", "Jack", "Charlie", "Olivia", "Amelia", "Isla", "Ava", "Emily",
             "James", "Sophie", "Thomas", "Grace"),
            ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans",
             "Walker", "Wright", "Thompson", "O'Brien", "Hughes"),
            (City("London", "SW", 19), City("Manchester", "M", 20), City("Birmingham", "B", 30),
             City("Leeds", "LS", 20), City("Glasgow", "G", 20), City("Bristol", "BS", 15),
             City("Edinburgh", "EH", 15), City("Liverpool", "L", 25)),
            (0.36, 0.12, 0.12, 0.09, 0.08, 0.08, 0.08, 0.07),
            ("High Street", "Station Road", "Church Lane", "Victoria Road", "Baker Street", "Mill Lane",
             "Queen's Road", "Park Avenue", "Kings Road"),
            True, "uk", ("hotmail.co.uk", "btinternet.com", "gmail.com", "yahoo.co.uk"),
            ("UK", "U.K.", "Great Britain", "united kingdom", "England")),
    Country("United States", 0.11,
            ("Emma", "Olivia", "Ava", "Madison", "Liam", "Noah", "Ethan", "Mason", "Logan", "Abigail",
             "Michael", "Jessica", "Tyler", "Brittany"),
            ("Smith", "Johnson", "Williams", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez",
             "Anderson", "Taylor", "Moore", "Jackson", "Lee", "Harris"),
            (City("New York", "10001", 280, "NY"), City("Los Angeles", "90001", 90, "CA"),
             City("Chicago", "60601", 60, "IL"), City("Houston", "77001", 99, "TX"),
             City("Seattle", "98101", 98, "WA"), City("Boston", "02108", 30, "MA"),
             City("Austin", "78701", 60, "TX"), City("Miami", "33101", 90, "FL"),
             City("San Francisco", "94102", 30, "CA")),
            (0.22, 0.15, 0.12, 0.1, 0.09, 0.09, 0.08, 0.08, 0.07),
            ("Main Street", "Oak Avenue", "Maple Drive", "Park Place", "Washington Street",
             "Elm Street", "Lake View Road", "Sunset Boulevard", "Pine Street"),
            True, "us", ("gmail.com", "yahoo.com", "outlook.com", "icloud.com"),
            ("USA", "U.S.A.", "United States of America", "us", "U.S.")),
    Country("Spain", 0.09,
            ("Lucía", "Sofía", "Martina", "María", "Paula", "Hugo", "Martín", "Pablo", "Alejandro", "Daniel",
             "Javier", "Carmen", "Álvaro", "Elena"),
            ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
             "Gómez", "Ruiz", "Díaz", "Moreno", "Muñoz", "Romero"),
            (City("Madrid", "28001", 90), City("Barcelona", "08001", 40), City("Valencia", "46001", 25),
             City("Sevilla", "41001", 20), City("Bilbao", "48001", 15), City("Málaga", "29001", 20)),
            (0.33, 0.27, 0.12, 0.1, 0.08, 0.1),
            ("Calle Mayor", "Gran Vía", "Calle de Alcalá", "Paseo de Gracia", "Avenida de la Constitución",
             "Calle Real", "Plaza Mayor", "Calle del Sol"),
            False, "digits5", ("gmail.com", "hotmail.es", "telefonica.net", "yahoo.es"),
            (" Spain ", "España", "ES", "spain", "Espagne")),
    Country("Italy", 0.08,
            ("Giulia", "Sofia", "Aurora", "Alice", "Francesco", "Alessandro", "Lorenzo", "Matteo",
             "Leonardo", "Chiara", "Marco", "Federica", "Davide"),
            ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
             "Greco", "Bruno", "Gallo", "Conti", "De Luca"),
            (City("Roma", "00118", 80), City("Milano", "20121", 40), City("Napoli", "80121", 30),
             City("Torino", "10121", 30), City("Firenze", "50121", 20), City("Bologna", "40121", 20)),
            (0.28, 0.27, 0.14, 0.12, 0.1, 0.09),
            ("Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele", "Via Dante", "Piazza del Duomo",
             "Via Mazzini", "Viale dei Mille", "Via Verdi"),
            False, "digits5", ("libero.it", "gmail.com", "virgilio.it", "alice.it"),
            ("Italia", "italy", "IT", "ITALY", "Italie")),
    Country("Netherlands", 0.06,
            ("Daan", "Sem", "Lucas", "Levi", "Finn", "Emma", "Julia", "Tess", "Sophie", "Anna", "Bram",
             "Fleur", "Jeroen"),
            ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
             "Smit", "Meijer", "de Boer", "Mulder", "Bos"),
            (City("Amsterdam", "1011", 90), City("Rotterdam", "3011", 80), City("Den Haag", "2511", 80),
             City("Utrecht", "3511", 50), City("Eindhoven", "5611", 50), City("Groningen", "9711", 40)),
            (0.3, 0.2, 0.16, 0.14, 0.1, 0.1),
            ("Keizersgracht", "Prinsengracht", "Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg",
             "Herengracht", "Nieuwstraat"),
            False, "nl", ("ziggo.nl", "kpnmail.nl", "gmail.com", "hotmail.nl"),
            ("Holland", "The Netherlands", "NL", "Nederland", "netherlands")),
    Country("Belgium", 0.05,
            ("Lucas", "Louis", "Noah", "Arthur", "Adam", "Emma", "Olivia", "Louise", "Mila", "Elise",
             "Wout", "Lotte", "Maxime"),
            ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
             "De Smet", "Dubois", "Lambert", "Dupont"),
            (City("Bruxelles", "1000", 200), City("Antwerpen", "2000", 60), City("Gent", "9000", 50),
             City("Liège", "4000", 50), City("Brugge", "8000", 20), City("Namur", "5000", 20)),
            (0.3, 0.22, 0.17, 0.13, 0.09, 0.09),
            ("Rue Neuve", "Avenue Louise", "Meir", "Korenmarkt", "Rue de la Loi", "Grote Markt",
             "Chaussée de Wavre", "Veldstraat"),
            False, "digits4", ("skynet.be", "telenet.be", "gmail.com", "proximus.be"),
            ("Belgique", "België", "BE", "belgium", "Belgie")),
    Country("Canada", 0.04,
            ("Liam", "Noah", "William", "Olivia", "Emma", "Charlotte", "Benjamin", "Félix", "Chloé",
             "Ethan", "Mégane", "Owen"),
            ("Smith", "Tremblay", "Martin", "Roy", "Wilson", "MacDonald", "Gagnon", "Brown", "Côté",
             "Bouchard", "Campbell", "Lee"),
            (City("Toronto", "M5", 9, "ON"), City("Montréal", "H3", 9, "QC"),
             City("Vancouver", "V6", 9, "BC"), City("Calgary", "T2", 9, "AB"),
             City("Ottawa", "K1", 9, "ON")),
            (0.34, 0.26, 0.18, 0.12, 0.1),
            ("Queen Street West", "Rue Sainte-Catherine", "Granville Street", "Yonge Street",
             "Elgin Street", "Boulevard Saint-Laurent", "Maple Avenue"),
            True, "ca", ("gmail.com", "rogers.com", "videotron.ca", "outlook.com"),
            ("CA", "canada", "Canada ", "CANADA", "Kanada")),
)
COUNTRY_NAMES: tuple[str, ...] = tuple(c.name for c in COUNTRIES)
COUNTRY_WEIGHTS = np.array([c.weight for c in COUNTRIES]) / sum(c.weight for c in COUNTRIES)
_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def ascii_slug(text: str) -> str:
    """Lower-case ASCII form of a name for e-mail local parts ("Lefèvre" -> "lefevre")."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(values.astype(np.int64).astype(str), width)


def _postcodes(rng: np.random.Generator, country: Country, city_idx: np.ndarray) -> np.ndarray:
    n = len(city_idx)
    codes = np.array([c.code for c in country.cities])[city_idx]
    spread = np.array([c.spread for c in country.cities])[city_idx]
    offset = (rng.random(n) * spread).astype(np.int64)
    letters = _LETTERS[rng.integers(0, len(_LETTERS), (n, 2))]
    pair = np.strings.add(letters[:, 0], letters[:, 1])
    digit = rng.integers(1, 10, n).astype(str)
    if country.postcode in ("digits5", "digits4"):
        width = 5 if country.postcode == "digits5" else 4
        return _digits(codes.astype(np.int64) + offset, width)
    if country.postcode == "us":
        region = np.array([c.region for c in country.cities])[city_idx]
        return np.strings.add(np.strings.add(region, " "), _digits(codes.astype(np.int64) + offset, 5))
    if country.postcode == "nl":
        return np.strings.add(np.strings.add(_digits(codes.astype(np.int64) + offset, 4), " "), pair)
    if country.postcode == "uk":
        outward = np.strings.add(codes, (offset + 1).astype(str))
        return np.strings.add(np.strings.add(outward, " "), np.strings.add(digit, pair))
    # Canada: "ON M5H 2N2"
    region = np.array([c.region for c in country.cities])[city_idx]
    fsa = np.strings.add(codes, letters[:, 0])
    ldu = np.strings.add(np.strings.add(digit, letters[:, 1]), (offset % 10).astype(str))
    return np.strings.add(np.strings.add(region, " "), np.strings.add(np.strings.add(fsa, " "), ldu))


def build_addresses(rng: np.random.Generator, country_idx: np.ndarray, city_idx: np.ndarray) -> np.ndarray:
    """Free-text postal addresses; some without commas, a few with an apartment in double quotes."""
    n = len(country_idx)
    out = np.empty(n, dtype=object)
    number = rng.integers(1, 220, n)
    apt_roll = rng.random(n)
    apt_no = rng.integers(1, 40, n).astype(str)
    apt_letter = _LETTERS[rng.integers(0, 6, n)]
    compact = rng.random(n) < 0.08  # typed on one line, no commas, no country
    street_roll = rng.random(n)
    for ci, country in enumerate(COUNTRIES):
        sel = np.flatnonzero(country_idx == ci)
        if sel.size == 0:
            continue
        streets = np.array(country.streets)[(street_roll[sel] * len(country.streets)).astype(np.int64)]
        num = number[sel].astype(str)
        line1 = (np.strings.add(np.strings.add(num, " "), streets) if country.number_first
                 else np.strings.add(np.strings.add(streets, " "), num))
        apt = np.where(apt_roll[sel] < 0.012, np.strings.add(np.strings.add(', Apt "', apt_letter[sel]), '"'),
                       np.where(apt_roll[sel] < 0.07, np.strings.add(", Apt ", apt_no[sel]), ""))
        line1 = np.strings.add(line1, apt)
        cities = np.array([c.name for c in country.cities])[city_idx[sel]]
        post = _postcodes(rng, country, city_idx[sel])
        if country.postcode in ("us", "ca"):
            line2 = np.strings.add(np.strings.add(cities, ", "), post)
        elif country.postcode == "uk":
            line2 = np.strings.add(np.strings.add(cities, " "), post)
        else:
            line2 = np.strings.add(np.strings.add(post, " "), cities)
        full = np.strings.add(np.strings.add(line1, ", "),
                              np.strings.add(np.strings.add(line2, ", "), country.name))
        short = np.strings.replace(np.strings.add(np.strings.add(line1, " "), line2), ",", "")
        out[sel] = np.where(compact[sel], short, full)
    return out.astype(str)


def draw_cities(rng: np.random.Generator, country_idx: np.ndarray) -> np.ndarray:
    """City index within the country, by city weight."""
    u = rng.random(len(country_idx))
    city = np.zeros(len(country_idx), dtype=np.int64)
    for ci, country in enumerate(COUNTRIES):
        sel = np.flatnonzero(country_idx == ci)
        cdf = np.cumsum(country.city_weights) / sum(country.city_weights)
        city[sel] = np.minimum(np.searchsorted(cdf, u[sel], side="right"), len(country.cities) - 1)
    return city
