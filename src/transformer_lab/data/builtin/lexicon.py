"""Lexicon of the built-in toy language pair: English -> (real, simplified) German.

Nouns carry gender and plural; weak masculine nouns take -(e)n outside the nominative; compounds are
built productively from modifier stems and head nouns (apple + tree -> Apfelbaum). Verbs carry their
German principal parts, auxiliary (haben/sein), separable prefix and object case (accusative/dative).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noun:
    en: str
    en_pl: str
    de: str
    de_pl: str
    gender: str  # m, f, n
    weak: bool = False  # masculine weak noun: den Jungen, dem Jungen

    def de_form(self, case: str, plural: bool) -> str:
        if plural:
            if case == "dat" and not self.de_pl.endswith(("n", "s")):
                return self.de_pl + "n"
            return self.de_pl
        if self.weak and case != "nom":
            return self.de_pl
        return self.de


def _nouns(rows: str, weak: bool = False) -> list[Noun]:
    out = []
    for row in rows.strip().splitlines():
        en, en_pl, de, de_pl, gender = row.split()
        out.append(Noun(en, en_pl, de, de_pl, gender, weak))
    return out


ANIMATE = _nouns("""
man men Mann Männer m
woman women Frau Frauen f
child children Kind Kinder n
girl girls Mädchen Mädchen n
teacher teachers Lehrer Lehrer m
doctor doctors Arzt Ärzte m
friend friends Freund Freunde m
father fathers Vater Väter m
mother mothers Mutter Mütter f
brother brothers Bruder Brüder m
sister sisters Schwester Schwestern f
baker bakers Bäcker Bäcker m
cook cooks Koch Köche m
king kings König Könige m
queen queens Königin Königinnen f
dog dogs Hund Hunde m
cat cats Katze Katzen f
horse horses Pferd Pferde n
bird birds Vogel Vögel m
fish fishes Fisch Fische m
mouse mice Maus Mäuse f
cow cows Kuh Kühe f
pig pigs Schwein Schweine n
sheep sheep Schaf Schafe n
wolf wolves Wolf Wölfe m
fox foxes Fuchs Füchse m
duck ducks Ente Enten f
hen hens Huhn Hühner n
driver drivers Fahrer Fahrer m
singer singers Sänger Sänger m
painter painters Maler Maler m
soldier soldiers Soldat Soldaten m
thief thieves Dieb Diebe m
guest guests Gast Gäste m
uncle uncles Onkel Onkel m
aunt aunts Tante Tanten f
grandmother grandmothers Großmutter Großmütter f
customer customers Kunde Kunden m
""") + _nouns("""
boy boys Junge Jungen m
student students Student Studenten m
neighbor neighbors Nachbar Nachbarn m
bear bears Bär Bären m
lion lions Löwe Löwen m
monkey monkeys Affe Affen m
rabbit rabbits Hase Hasen m
farmer farmers Bauer Bauern m
""", weak=True)

THINGS = _nouns("""
house houses Haus Häuser n
car cars Auto Autos n
book books Buch Bücher n
table tables Tisch Tische m
chair chairs Stuhl Stühle m
door doors Tür Türen f
window windows Fenster Fenster n
garden gardens Garten Gärten m
apple apples Apfel Äpfel m
tree trees Baum Bäume m
flower flowers Blume Blumen f
letter letters Brief Briefe m
bottle bottles Flasche Flaschen f
cup cups Tasse Tassen f
glass glasses Glas Gläser n
key keys Schlüssel Schlüssel m
bag bags Tasche Taschen f
box boxes Kiste Kisten f
ball balls Ball Bälle m
bed beds Bett Betten n
lamp lamps Lampe Lampen f
clock clocks Uhr Uhren f
picture pictures Bild Bilder n
song songs Lied Lieder n
city cities Stadt Städte f
village villages Dorf Dörfer n
street streets Straße Straßen f
bridge bridges Brücke Brücken f
river rivers Fluss Flüsse m
mountain mountains Berg Berge m
forest forests Wald Wälder m
lake lakes See Seen m
field fields Feld Felder n
school schools Schule Schulen f
church churches Kirche Kirchen f
shop shops Laden Läden m
kitchen kitchens Küche Küchen f
room rooms Zimmer Zimmer n
bread breads Brot Brote n
cake cakes Kuchen Kuchen m
cheese cheeses Käse Käse m
egg eggs Ei Eier n
soup soups Suppe Suppen f
shoe shoes Schuh Schuhe m
hat hats Hut Hüte m
coat coats Mantel Mäntel m
shirt shirts Hemd Hemden n
newspaper newspapers Zeitung Zeitungen f
ship ships Schiff Schiffe n
train trains Zug Züge m
bicycle bicycles Fahrrad Fahrräder n
plane planes Flugzeug Flugzeuge n
stone stones Stein Steine m
knife knives Messer Messer n
spoon spoons Löffel Löffel m
plate plates Teller Teller m
computer computers Computer Computer m
phone phones Telefon Telefone n
ticket tickets Fahrkarte Fahrkarten f
gift gifts Geschenk Geschenke n
map maps Karte Karten f
story stories Geschichte Geschichten f
question questions Frage Fragen f
idea ideas Idee Ideen f
problem problems Problem Probleme n
word words Wort Wörter n
wall walls Wand Wände f
roof roofs Dach Dächer n
floor floors Boden Böden m
box-office box-offices Kasse Kassen f
island islands Insel Inseln f
castle castles Schloss Schlösser n
tower towers Turm Türme m
hospital hospitals Krankenhaus Krankenhäuser n
station stations Bahnhof Bahnhöfe m
museum museums Museum Museen n
""")
THINGS = [n for n in THINGS if "-" not in n.en]  # (placeholder rows are skipped)

# Compounds: English "MODIFIER HEAD" -> German modifier stem + lower-cased head (Apfel + Baum -> Apfelbaum).
MODIFIERS = [
    ("apple", "Apfel"), ("house", "Haus"), ("school", "Schul"), ("water", "Wasser"), ("kitchen", "Küchen"),
    ("garden", "Garten"), ("city", "Stadt"), ("village", "Dorf"), ("church", "Kirchen"), ("door", "Tür"),
    ("car", "Auto"), ("winter", "Winter"), ("summer", "Sommer"), ("birthday", "Geburtstags"),
    ("coffee", "Kaffee"), ("tea", "Tee"), ("children", "Kinder"), ("book", "Bücher"), ("wine", "Wein"),
    ("flower", "Blumen"),
]
COMPOUND_HEADS = [n for n in THINGS if n.en in {
    "tree", "door", "table", "key", "bottle", "cup", "glass", "bag", "shop", "room", "lamp", "picture",
    "cake", "shoe", "coat", "street", "bridge", "book", "plate", "box", "roof", "wall",
}]

# Adjectives: (English, German predicative form, German attributive stem).
ADJECTIVES = [tuple(row.split()) for row in """
big groß groß
small klein klein
old alt alt
young jung jung
new neu neu
red rot rot
blue blau blau
green grün grün
black schwarz schwarz
white weiß weiß
yellow gelb gelb
brown braun braun
fast schnell schnell
slow langsam langsam
clever klug klug
beautiful schön schön
ugly hässlich hässlich
rich reich reich
poor arm arm
tired müde müd
happy glücklich glücklich
sad traurig traurig
hungry hungrig hungrig
loud laut laut
quiet leise leis
warm warm warm
cold kalt kalt
hot heiß heiß
long lang lang
short kurz kurz
strong stark stark
weak schwach schwach
friendly freundlich freundlich
angry böse bös
thick dick dick
thin dünn dünn
empty leer leer
full voll voll
clean sauber sauber
dirty schmutzig schmutzig
wild wild wild
calm ruhig ruhig
dark dunkel dunkl
expensive teuer teur
high hoch hoh
cheap billig billig
famous berühmt berühmt
strange seltsam seltsam
""".strip().splitlines()]


@dataclass(frozen=True)
class Verb:
    en: str  # base form
    en_past: str
    de_inf: str  # without separable prefix
    de_3sg: str
    de_part: str  # without separable prefix
    aux: str = "haben"  # haben | sein
    prefix: str = ""  # separable prefix (an-rufen)
    case: str | None = "acc"  # object case; None = intransitive
    en_3sg: str = ""

    @property
    def en_s(self) -> str:
        if self.en_3sg:
            return self.en_3sg
        if " " in self.en:  # phrasal verb: get up -> gets up
            first, rest = self.en.split(" ", 1)
            return Verb(first, "", "", "", "").en_s + " " + rest
        if self.en.endswith(("s", "sh", "ch", "x", "o")):
            return self.en + "es"
        if self.en.endswith("y") and self.en[-2] not in "aeiou":
            return self.en[:-1] + "ies"
        return self.en + "s"

    def de_present(self, person: str) -> str:
        if person == "3sg":
            return self.de_3sg
        if person == "1sg":
            return self.de_inf[:-1] if self.de_inf.endswith("en") else self.de_inf[:-1]
        return self.de_inf

    def de_infinitive(self) -> str:
        return self.prefix + self.de_inf

    def de_participle(self) -> str:
        return self.prefix + self.de_part


def _verbs(rows: str, case: str | None) -> list[Verb]:
    out = []
    for row in rows.strip().splitlines():
        fields = row.split()
        en, en_past, de_inf, de_3sg, de_part = fields[:5]
        aux = fields[5] if len(fields) > 5 else "haben"
        prefix = fields[6] if len(fields) > 6 else ""
        out.append(Verb(en, en_past, de_inf, de_3sg, de_part, aux, "" if prefix == "-" else prefix, case))
    return out


TRANSITIVE = _verbs("""
see saw sehen sieht gesehen
eat ate essen isst gegessen
read read lesen liest gelesen
take took nehmen nimmt genommen
find found finden findet gefunden
buy bought kaufen kauft gekauft
sell sold verkaufen verkauft verkauft
need needed brauchen braucht gebraucht
love loved lieben liebt geliebt
hear heard hören hört gehört
visit visited besuchen besucht besucht
draw drew zeichnen zeichnet gezeichnet
build built bauen baut gebaut
carry carried tragen trägt getragen
wash washed waschen wäscht gewaschen
paint painted malen malt gemalt
search searched suchen sucht gesucht
write wrote schreiben schreibt geschrieben
drink drank trinken trinkt getrunken
cook cooked kochen kocht gekocht
hold held halten hält gehalten
catch caught fangen fängt gefangen
forget forgot vergessen vergisst vergessen
lose lost verlieren verliert verloren
open opened öffnen öffnet geöffnet
count counted zählen zählt gezählt
understand understood verstehen versteht verstanden
know knew kennen kennt gekannt
ask asked fragen fragt gefragt
like liked mögen mag gemocht
fetch fetched holen holt geholt
repair repaired reparieren repariert repariert
""", "acc") + _verbs("""
call called rufen ruft gerufen haben an
close closed machen macht gemacht haben zu
invite invited laden lädt geladen haben ein
watch watched sehen sieht gesehen haben an
bring brought bringen bringt gebracht haben mit
clean cleaned räumen räumt geräumt haben auf
describe described schreiben schreibt geschrieben haben be
""", "acc")
# "be-schreiben" is inseparable: fold the prefix into the stem.
TRANSITIVE = [v if v.prefix != "be" else Verb(v.en, v.en_past, "beschreiben", "beschreibt", "beschrieben")
              for v in TRANSITIVE]

DATIVE = _verbs("""
help helped helfen hilft geholfen
thank thanked danken dankt gedankt
follow followed folgen folgt gefolgt sein
answer answered antworten antwortet geantwortet
trust trusted vertrauen vertraut vertraut
""", "dat")

INTRANSITIVE = _verbs("""
sleep slept schlafen schläft geschlafen
laugh laughed lachen lacht gelacht
work worked arbeiten arbeitet gearbeitet
sing sang singen singt gesungen
dance danced tanzen tanzt getanzt
wait waited warten wartet gewartet
play played spielen spielt gespielt
cry cried weinen weint geweint
go went gehen geht gegangen sein
come came kommen kommt gekommen sein
run ran laufen läuft gelaufen sein
swim swam schwimmen schwimmt geschwommen sein
stay stayed bleiben bleibt geblieben sein
travel travelled reisen reist gereist sein
fall fell fallen fällt gefallen sein
get-up got-up stehen steht gestanden sein auf
""", None)
INTRANSITIVE = [Verb("get up", "got up", v.de_inf, v.de_3sg, v.de_part, v.aux, v.prefix, None)
                if v.en == "get-up" else v for v in INTRANSITIVE]

NAMES = ["Anna", "Peter", "Maria", "Thomas", "Julia", "Paul", "Sophie", "Lukas", "Emma", "Felix"]

# (English, German) time adverbs; English puts them first or last, German in the middle field or first.
ADVERBS = [
    ("today", "heute"), ("yesterday", "gestern"), ("tomorrow", "morgen"), ("often", "oft"),
    ("sometimes", "manchmal"), ("now", "jetzt"), ("again", "wieder"), ("always", "immer"),
    ("never", "nie"), ("in the morning", "am Morgen"), ("in the evening", "am Abend"),
    ("at night", "in der Nacht"), ("on Sunday", "am Sonntag"), ("on Monday", "am Montag"),
    ("in the summer", "im Sommer"), ("in the winter", "im Winter"), ("every day", "jeden Tag"),
    ("unfortunately", "leider"), ("of course", "natürlich"), ("perhaps", "vielleicht"),
]

# Subordinating conjunctions: all make the German clause verb-final.
CONJUNCTIONS = [("because", "weil"), ("that", "dass"), ("when", "wenn"), ("although", "obwohl"),
                ("if", "falls"), ("while", "während"), ("before", "bevor"), ("after", "nachdem")]

# Prepositions: (English, German, case).
PREPOSITIONS = [
    ("in", "in", "dat"), ("on", "auf", "dat"), ("with", "mit", "dat"), ("next to", "neben", "dat"),
    ("behind", "hinter", "dat"), ("under", "unter", "dat"), ("from", "von", "dat"), ("at", "bei", "dat"),
    ("to", "zu", "dat"), ("in front of", "vor", "dat"), ("for", "für", "acc"), ("without", "ohne", "acc"),
    ("through", "durch", "acc"), ("around", "um", "acc"),
]
# Preposition + definite article contractions.
CONTRACTIONS = {("in", "dem"): "im", ("von", "dem"): "vom", ("zu", "dem"): "zum", ("zu", "der"): "zur",
                ("bei", "dem"): "beim", ("an", "dem"): "am"}
