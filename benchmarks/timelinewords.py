"""Word and name lists for benchmarks/timelinedata.py: German and English business mail.

The lists are ordered roughly by how often the words occur in real mail, so that
ranking them under a Zipf law (timelinedata.Text) gives realistic term
frequencies: function words everywhere, business words often, the long tail of
generated words (see :func:`tail_words`) rarely.
"""

from __future__ import annotations

import random


def _words(text: str) -> list[str]:
    """The words of a block of text, in order."""
    return text.split()


#: the most frequent words of German and English mail, interleaved
FUNCTION_WORDS = _words(
    """
der the und and die to ist of das a in is nicht for zu you den it von we mit
with sie on sich be auf this für are im that dem as ein have eine at als your
auch will es our an can werden please aus from ich by hat or dass was wir not
nach all bei if einer us um but am so sind any noch me wie would einem there
über my einen could so should zum let zur know bis more durch they man about
dann when soll also vor just haben here nur see oder up aber out ihr thanks
ihre new haben get bitte next gerne best können regards kann hi noch dear
"""
)

#: business words of sales, logistics and support mail, German and English
BUSINESS_WORDS = _words(
    """
Angebot order Rechnung invoice Lieferung delivery Termin meeting Bestellung
quote Auftrag contract Vertrag price Preis discount Rabatt payment Zahlung
shipment Mahnung schedule Gutschrift update Lieferschein week Ware call Kunde
customer Kunden project Anfrage proposal Rückfrage question Besprechung team
Projekt support Ansprechpartner issue Rahmenvertrag ticket Liefertermin account
Versand product Spedition service Container release Hafen version Zoll feature
Fracht request Übergabe feedback Gebühr review Grüße budget freundlichen
forecast Hallo quarter Sehr report geehrte sales geehrter marketing Herr Frau
vielen Dank anbei attached beigefügt find Rückmeldung questions Woche Monday
Montag Tuesday Dienstag Wednesday Mittwoch Thursday Donnerstag Friday Freitag
nächste nächsten heute today morgen tomorrow Uhr Telefonat Unterlagen documents
Änderung change Größe size Menge quantity Stück pieces Qualität quality Prüfung
inspection Reklamation complaint Ersatz replacement Garantie warranty Wartung
maintenance Service Schulung training Lizenz license Software Server Rechnungsnummer
Bestellnummer Kundennummer Lieferadresse address Ansprechpartnerin Geschäftsführung
management Einkauf purchasing Vertrieb Buchhaltung accounting Lager warehouse
Logistik logistics Produktion production Muster sample Katalog catalogue Preisliste
pricelist Messe trade fair Stand booth Frist deadline Zahlungsziel terms Skonto
Netto Brutto Mehrwertsteuer VAT Steuer tax Palette pallet Paletten Lieferzeit
lead time Verfügbarkeit availability Lagerbestand stock Abholung pickup
Zustellung Sendungsnummer tracking Seefracht ocean freight Luftfracht air
Hamburg Bremen Rotterdam Antwerpen Oslo München Berlin Köln Frankfurt Stuttgart
Düsseldorf Leipzig Dresden Hannover Nürnberg Wien Zürich Basel London Paris
Mailand Madrid Warschau Prag Kopenhagen Stockholm Helsinki Göteborg Danzig
Zollabfertigung clearance Einfuhr import Ausfuhr export Dokumente certificate
Zertifikat Ursprungszeugnis origin Verpackung packaging Etiketten labels
Probelieferung trial Bemusterung samples Jahresgespräch annual Konditionen
conditions Preiserhöhung increase Preisanpassung adjustment Kündigung termination
Verlängerung renewal Laufzeit duration Unterschrift signature unterschrieben
signed Entwurf draft Freigabe approval freigegeben approved abgelehnt rejected
Störung outage Fehler error Ausfall failure dringend urgent Eskalation escalation
Rückruf callback erreichbar available Urlaub vacation Vertretung deputy
Abwesenheit absence Feiertag holiday Quartal Jahresabschluss Inventur inventory
Workshop Webinar Präsentation presentation Folien slides Protokoll minutes
Agenda Kickoff Abstimmung alignment Planung planning Zeitplan timeline
Meilenstein milestone Budgetfreigabe Kostenvoranschlag estimate Stundensatz rate
Aufwand effort Nachtrag addendum Mängel defects Abnahme acceptance Übergabeprotokoll
Installation Inbetriebnahme commissioning Ersatzteil spare Ersatzteile parts
Bedienungsanleitung manual Datenblatt datasheet Zeichnung drawing Spezifikation
specification Toleranz tolerance Material Stahl steel Aluminium Kunststoff plastic
Holz wood Glas glass Papier paper Karton carton Folie film Schrauben screws
Motor Pumpe pump Ventil valve Sensor Steuerung controller Kabel cable Gehäuse
housing Lagerung storage Kühlung cooling Temperatur temperature Feuchtigkeit
Transportschaden damage Versicherung insurance Schadensmeldung claim Gutachter
Fotos photos Beweis evidence Kulanz goodwill Erstattung refund Verrechnung offset
Überweisung transfer Kontoauszug statement Bankverbindung IBAN Zahlungseingang
received Zahlungserinnerung reminder Inkasso collection Lastschrift debit
"""
)

#: syllables that the long tail of generated words is made of
SYLLABLES = _words(
    """
ka lo ven tri mar sel dor quin bra ste lu pha rix zen mo tal gor ne vi sta
ber kol un fa ri dal pen tor wen hil sa mi ro ge ta fle gru pol nor ser
"""
)

GIVEN_NAMES = _words(
    """
Anna Jana Lena Laura Julia Sarah Lisa Katharina Sophie Marie Lea Hannah Miriam
Sabine Petra Claudia Susanne Andrea Nicole Stefanie Birgit Monika Karin Ingrid
Jörg Jürgen Klaus Thomas Michael Andreas Stefan Markus Frank Peter Uwe Ralf
Tobias Jan Lukas Felix Jonas Paul Max Leon Florian Sebastian Matthias Christian
Oliver Daniel David Simon Tim Niklas Moritz Philipp Alexander Martin Wolfgang
Dana Emma Olivia Grace Chloe Emily Jessica Rachel Megan Amy Kate Lucy Helen
James John Robert William Richard Charles Joseph George Edward Henry Samuel
Ingrid Astrid Sigrid Kari Nils Lars Erik Sven Björn Ole Henrik Magnus Mikael
Marco Luca Giulia Francesca Pierre Julien Camille Élodie Pablo Lucía Carmen
Piotr Katarzyna Tomasz Agnieszka Jan Eva Petr Lucie Mehmet Ayşe Fatma Emre
"""
)

FAMILY_NAMES = _words(
    """
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann
Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann
Braun Krüger Hofmann Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann
Schmid Schulze Maier Köhler Herrmann König Walter Mayer Huber Kaiser Fuchs
Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich Keller Günther
Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon
Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto Sommer
Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn
Petersen Hinrichs Jensen Hansen Nielsen Christensen Larsen Andersen Solberg
Johansson Lindqvist Berg Dahl Haugen Smith Johnson Williams Brown Jones Miller
Davis Wilson Taylor Clark Whitfield Grant Turner Parker Collins Murphy Rossi
Russo Ferrari Bianchi Romano Dubois Martin Bernard Moreau Laurent García López
Martínez Nowak Kowalski Wiśniewski Novák Svoboda Yılmaz Kaya Demir Şahin
"""
)

ORG_WORDS = _words(
    """
Nordwind Kranich Fjordlys Acme Sonnen Berg Tal Adler Falke Eiche Linde Anker
Hanse Elbe Rhein Weser Alster Mosel Isar Spree Oder Donau Main Neckar Havel
Blau Grün Roth Stern Polar Atlas Orion Vega Nova Astra Terra Aqua Ventus Ignis
Delta Omega Sigma Alpha Beta Gamma Kappa Lambda Zeta Titan Apex Summit Pioneer
Harbor Bridge Crown Falcon Eagle Maple Cedar Pine Oak Willow River Lake Coast
"""
)

ORG_TRADES = _words(
    """
Logistik Bau Technik Maschinenbau Elektro Handel Spedition Metall Kunststoff
Software Systems Consulting Beratung Medien Druck Verpackung Lebensmittel
Pharma Medizintechnik Energie Solar Immobilien Versicherung Transport Shipping
Trading Industries Solutions Services Foods Textil Möbel Holz Glas Chemie
"""
)

LEGAL_FORMS = _words("GmbH GmbH GmbH AG KG GmbH&Co.KG SE Ltd Inc AS AB BV SARL")
TLDS = _words("de de de de com com eu at ch nl no se dk fr it pl co.uk")
FREE_MAIL = _words(
    "gmail.com web.de gmx.de t-online.de outlook.com yahoo.com gmx.net hotmail.com "
    "icloud.com posteo.de mail.de freenet.de"
)
TITLES = ("Einkauf", "Vertrieb", "Geschäftsführer", "Buyer", "Head of Purchasing", "Projektleitung")


def tail_words(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct made-up words of 2 to 4 syllables (product names, jargon)."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def vocabulary(rng: random.Random, tail: int = 20_000) -> list[str]:
    """All words, most frequent first: function words, business words, the tail."""
    words = list(dict.fromkeys(FUNCTION_WORDS + BUSINESS_WORDS))
    known = {w.lower() for w in words}
    words += [w for w in tail_words(rng, tail) if w not in known]
    return words
