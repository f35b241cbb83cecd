"""What the demo audience is made of: countries with their names and cities, plans,
products, habits of use, and the saved segments it comes with (used by ``demo.py``)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    name: str
    weight: int
    currency: str
    per_usd: float
    names: str  # the pool of NAMES
    cities: str  # comma-separated
    domains: str  # e-mail domains, space-separated


COUNTRIES = [
    Country(
        "United States",
        28,
        "USD",
        1,
        "en",
        "New York, Los Angeles, Chicago, Houston, Seattle, Austin",
        "gmail.com yahoo.com outlook.com icloud.com",
    ),
    Country(
        "India",
        16,
        "INR",
        83,
        "in",
        "Mumbai, Bengaluru, Delhi, Hyderabad, Pune, Chennai",
        "gmail.com yahoo.co.in rediffmail.com outlook.com",
    ),
    Country(
        "United Kingdom",
        9,
        "GBP",
        0.79,
        "en",
        "London, Manchester, Birmingham, Edinburgh, Bristol",
        "gmail.com btinternet.com outlook.com yahoo.co.uk",
    ),
    Country(
        "Canada",
        9,
        "CAD",
        1.36,
        "en",
        "Toronto, Vancouver, Montreal, Calgary, Ottawa",
        "gmail.com outlook.com yahoo.ca icloud.com",
    ),
    Country(
        "Germany",
        7,
        "EUR",
        0.92,
        "de",
        "Berlin, Munich, Hamburg, Cologne, Frankfurt",
        "gmx.de web.de gmail.com t-online.de",
    ),
    Country(
        "Brazil",
        7,
        "BRL",
        5,
        "br",
        "São Paulo, Rio de Janeiro, Belo Horizonte, Curitiba",
        "gmail.com uol.com.br hotmail.com bol.com.br",
    ),
    Country(
        "France",
        5,
        "EUR",
        0.92,
        "fr",
        "Paris, Lyon, Marseille, Toulouse",
        "gmail.com orange.fr free.fr laposte.net",
    ),
    Country(
        "Australia",
        5,
        "AUD",
        1.5,
        "en",
        "Sydney, Melbourne, Brisbane, Perth",
        "gmail.com bigpond.com outlook.com",
    ),
    Country(
        "Mexico",
        5,
        "MXN",
        17,
        "es",
        "Mexico City, Guadalajara, Monterrey, Puebla",
        "gmail.com hotmail.com outlook.com",
    ),
    Country(
        "Japan",
        4,
        "JPY",
        150,
        "jp",
        "Tokyo, Osaka, Yokohama, Nagoya",
        "gmail.com yahoo.co.jp docomo.ne.jp",
    ),
    Country(
        "Spain",
        3,
        "EUR",
        0.92,
        "es",
        "Madrid, Barcelona, Valencia, Seville",
        "gmail.com hotmail.es yahoo.es",
    ),
    Country("Nigeria", 2, "NGN", 1500, "ng", "Lagos, Abuja, Ibadan", "gmail.com yahoo.com"),
]

NAMES = {
    "en": (
        "James Olivia Liam Emma Noah Ava Ethan Sophia Lucas Mia Henry Chloe Jack Grace Owen "
        "Ella Leo Zoe Ryan Hannah Nathan Lily Caleb Amelia Dylan Aria Isaac Nora Wyatt Ruby",
        "Smith Johnson Brown Taylor Wilson Martin Anderson Thompson White Harris Clark Lewis "
        "Walker Young King Wright Scott Green Baker Adams Nelson Campbell Mitchell Roberts",
    ),
    "in": (
        "Aarav Ananya Vihaan Diya Arjun Isha Reyansh Saanvi Aditya Priya Rohan Kavya Ishaan "
        "Meera Kabir Aditi Vivaan Riya Krishna Pooja",
        "Sharma Patel Singh Kumar Gupta Reddy Iyer Nair Mehta Joshi Rao Desai Kapoor Verma Das",
    ),
    "de": (
        "Lukas Mia Leon Emma Finn Hannah Jonas Lea Paul Lena Felix Marie Maximilian Sophie "
        "Elias Laura Noah Anna Ben Clara",
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Schäfer Koch "
        "Richter Klein Wolf Neumann",
    ),
    "br": (
        "João Maria Pedro Ana Lucas Júlia Gabriel Beatriz Matheus Larissa Rafael Camila "
        "Gustavo Fernanda Felipe Mariana",
        "Silva Santos Oliveira Souza Lima Pereira Costa Carvalho Almeida Ferreira Rodrigues "
        "Gomes Martins Rocha",
    ),
    "fr": (
        "Louis Camille Gabriel Léa Hugo Chloé Arthur Manon Jules Inès Raphaël Jade Adam "
        "Louise Théo Zoé",
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
        "Lefebvre Michel Garcia",
    ),
    "es": (
        "Santiago Sofía Mateo Valentina Diego Isabella Sebastián Camila Alejandro Lucía "
        "Daniel Martina Pablo Elena Javier Carmen",
        "García Martínez López Hernández González Rodríguez Pérez Sánchez Ramírez Torres "
        "Flores Rivera Gómez Díaz Morales",
    ),
    "jp": (
        "Haruto Yui Sota Hina Yuto Aoi Riku Sakura Ren Mei Kaito Yuna Hiroshi Emi",
        "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida Yamada",
    ),
    "ng": (
        "Chinedu Amara Emeka Ngozi Tunde Folake Obinna Adaeze Segun Chioma Ibrahim Aisha",
        "Okafor Adeyemi Okonkwo Balogun Eze Nwosu Abubakar Bello Olawale Obi",
    ),
}

PLANS = [("free", 60), ("pro", 30), ("team", 10)]
PLATFORMS = [("Android", 50), ("iOS", 40), ("Web", 10)]
APP_VERSIONS = ["4.2.0", "4.2.1", "4.3.0", "4.3.1", "4.4.0"]
CAMPAIGNS = ["Spring sale", "Your cart misses you", "Weekly picks", "Price drop", "New arrivals"]
SEARCHES = ["running shoes", "earbuds", "coffee", "yoga mat", "backpack", "desk lamp", "gift"]
# name, category, price in USD
PRODUCTS = [
    ("Trail Running Shoes", "Footwear", 89.0),
    ("Wireless Earbuds", "Electronics", 59.0),
    ("Espresso Machine", "Home", 249.0),
    ("Yoga Mat", "Fitness", 25.0),
    ("Everyday Backpack 24L", "Bags", 69.0),
    ("Smart Watch", "Electronics", 199.0),
    ("Linen Shirt", "Apparel", 45.0),
    ("Coffee Beans 1 kg", "Grocery", 22.0),
    ("LED Desk Lamp", "Home", 39.0),
    ("Polarised Sunglasses", "Accessories", 79.0),
]
PAYMENT = {"India": ["upi", "card", "wallet"], "Brazil": ["pix", "card", "boleto"]}
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Activity over the demo's 60 days: share of profiles, share of days with a session, and
# the day (counted back from now) the profile went quiet (0: still active).
HABITS = [
    ("daily", 8, (0.4, 0.7), (0, 1)),
    ("regular", 30, (0.12, 0.25), (0, 3)),
    ("occasional", 37, (0.03, 0.08), (0, 6)),
    ("lapsed", 25, (0.08, 0.2), (9, 45)),
]

SEGMENTS = [
    (
        "Canadian buyers",
        "Bought something in the last 30 days and lives in Canada.",
        {
            "category": "user_properties",
            "action": {"event": "Charged"},
            "window": {"kind": "last_days", "days": 30},
            "profile": [{"property": "country", "op": "eq", "value": "Canada"}],
        },
    ),
    (
        "Dormant users",
        "Opened the app in the last 30 days, then not again for a week.",
        {
            "category": "inaction_within_time",
            "action": {"event": "App Launched"},
            "missing": {"event": "App Launched"},
            "within": {"value": 7, "unit": "days"},
            "window": {"kind": "last_days", "days": 30},
        },
    ),
    (
        "Birthdays today",
        "Profiles whose birthday is today (any year).",
        {
            "category": "date_property",
            "date": {"source": "profile", "property": "birthday", "when": "anniversary"},
        },
    ),
]
