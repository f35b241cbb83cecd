"""The made-up world the benchmark audience is drawn from: names, places, plans, products.

Every string here ends up inside COPY text and JSON as is, so none holds a quote, a
backslash, a tab or a newline.
"""

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Mia", "Lucas",
    "Aarav", "Ananya", "Wei", "Mei", "Hiroshi", "Yuki", "Mateo", "Valentina", "Lea", "Finn",
    "Chloe", "Louis", "Giulia", "Marco", "Sofia", "Hugo", "Amara", "Chidi", "Maria", "Jose",
    "Fatima", "Omar", "Ines", "Tiago", "Anna", "Jakub", "Zoe", "Ethan", "Priya", "Arjun",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Martin", "Tremblay", "Roy",
    "Singh", "Patel", "Kumar", "Wang", "Li", "Sato", "Suzuki", "Silva", "Santos", "Muller",
    "Schmidt", "Dubois", "Bernard", "Rossi", "Russo", "Lopez", "Hernandez", "Okafor", "Adeyemi",
    "Nowak", "Kowalski", "Cohen", "Nguyen", "Tran", "Kim", "Park", "Wilson", "Taylor", "Murphy",
]  # fmt: skip
EMAIL_DOMAINS = ["gmail.com"] * 6 + [
    "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de", "orange.fr",
]  # fmt: skip

# Country, weight (share of the audience), cities, currency.
COUNTRIES = [
    ("United States", 30, ["New York", "Los Angeles", "Chicago", "Houston", "Seattle"], "USD"),
    ("India", 11, ["Mumbai", "Delhi", "Bengaluru", "Chennai"], "INR"),
    ("Brazil", 8, ["Sao Paulo", "Rio de Janeiro", "Belo Horizonte"], "BRL"),
    ("United Kingdom", 7, ["London", "Manchester", "Birmingham", "Glasgow"], "GBP"),
    ("Canada", 6, ["Toronto", "Montreal", "Vancouver", "Calgary", "Ottawa"], "CAD"),
    ("Germany", 6, ["Berlin", "Munich", "Hamburg", "Cologne"], "EUR"),
    ("France", 5, ["Paris", "Lyon", "Marseille", "Toulouse"], "EUR"),
    ("Mexico", 4, ["Mexico City", "Guadalajara", "Monterrey"], "MXN"),
    ("Indonesia", 4, ["Jakarta", "Surabaya", "Bandung"], "IDR"),
    ("Japan", 3, ["Tokyo", "Osaka", "Nagoya"], "JPY"),
    ("Spain", 3, ["Madrid", "Barcelona", "Valencia"], "EUR"),
    ("Australia", 3, ["Sydney", "Melbourne", "Brisbane"], "AUD"),
    ("Italy", 3, ["Rome", "Milan", "Naples"], "EUR"),
    ("Nigeria", 2, ["Lagos", "Abuja"], "NGN"),
    ("Philippines", 2, ["Manila", "Cebu"], "PHP"),
    ("Poland", 2, ["Warsaw", "Krakow"], "PLN"),
    ("South Korea", 1, ["Seoul", "Busan"], "KRW"),
]
PLANS = [("free", 70), ("basic", 16), ("premium", 10), ("gold", 4)]
PLATFORMS = [("android", 55), ("ios", 40), ("web", 5)]
APP_VERSIONS = ["5.4.0", "5.3.2", "5.3.1", "5.2.0", "4.9.8"]
CHANNELS = [("push", 70), ("in_app", 20), ("email", 10)]
CAMPAIGNS = 400
# Product category, typical price.
CATEGORIES = [
    ("electronics", 180.0), ("fashion", 45.0), ("home", 60.0), ("books", 15.0),
    ("beauty", 25.0), ("sports", 55.0), ("toys", 30.0), ("groceries", 20.0),
]  # fmt: skip
AIRPORTS = [
    "JFK", "LAX", "ORD", "YYZ", "YUL", "YVR", "LHR", "CDG", "FRA", "MAD", "FCO", "BOM", "DEL",
    "GRU", "MEX", "NRT", "SYD", "ICN", "WAW", "MNL", "CGK", "LOS", "DXB", "SIN", "AMS",
]  # fmt: skip
# Rough units per US dollar, so amounts read like the country's prices.
RATES = {
    "USD": 1, "INR": 83, "BRL": 5, "GBP": 0.79, "CAD": 1.36, "EUR": 0.92, "MXN": 17,
    "IDR": 15_600, "JPY": 150, "AUD": 1.5, "NGN": 1_500, "PHP": 56, "PLN": 4, "KRW": 1_330,
}  # fmt: skip
PRODUCTS = 3000
