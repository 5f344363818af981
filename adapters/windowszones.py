"""Time zones as calendars write them: TZID names mapped to IANA zones, and the
VTIMEZONE definitions of a file as the fallback.

Exchange and Outlook name zones the Windows way, in a TZID parameter: by the zone's
id (``W. Europe Standard Time``), by its display name (``(UTC+01:00) Amsterdam,
Berlin, Bern, Rome, Stockholm, Vienna``; older versions ``(GMT+01:00) ...``), or by
the bare city list (Outlook 2007: ``Canberra, Melbourne, Sydney``). Other clients
write IANA names, sometimes behind a vendor prefix (``/mozilla.org/20050126_1/Europe/Berlin``,
RFC 5545 section 3.2.19).

The Windows id -> IANA table is icalendar's ``WINDOWS_TO_OLSON``, generated from
CLDR's ``common/supplemental/windowsZones.xml`` (the territory "001" entries). CLDR
writes each zone's display name only as a comment in that file, so the display names
are kept here: :data:`DISPLAY_NAMES`, copied from the comments of windowsZones.xml
(unicode-org/cldr @ 062dc06d16b0, typeVersion 2021a); the 139 ids are the same as
icalendar's table. Unicode license: https://www.unicode.org/license.txt
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import UTC, tzinfo

from icalendar import Timezone
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

#: (display name without its "(UTC+hh:mm) " prefix, Windows zone id), as in windowsZones.xml
DISPLAY_NAMES: tuple[tuple[str, str], ...] = (
    ("International Date Line West", "Dateline Standard Time"),
    ("Coordinated Universal Time-11", "UTC-11"),
    ("Aleutian Islands", "Aleutian Standard Time"),
    ("Hawaii", "Hawaiian Standard Time"),
    ("Marquesas Islands", "Marquesas Standard Time"),
    ("Alaska", "Alaskan Standard Time"),
    ("Coordinated Universal Time-09", "UTC-09"),
    ("Baja California", "Pacific Standard Time (Mexico)"),
    ("Coordinated Universal Time-08", "UTC-08"),
    ("Pacific Time (US & Canada)", "Pacific Standard Time"),
    ("Arizona", "US Mountain Standard Time"),
    ("Chihuahua, La Paz, Mazatlan", "Mountain Standard Time (Mexico)"),
    ("Mountain Time (US & Canada)", "Mountain Standard Time"),
    ("Yukon", "Yukon Standard Time"),
    ("Central America", "Central America Standard Time"),
    ("Central Time (US & Canada)", "Central Standard Time"),
    ("Easter Island", "Easter Island Standard Time"),
    ("Guadalajara, Mexico City, Monterrey", "Central Standard Time (Mexico)"),
    ("Saskatchewan", "Canada Central Standard Time"),
    ("Bogota, Lima, Quito, Rio Branco", "SA Pacific Standard Time"),
    ("Chetumal", "Eastern Standard Time (Mexico)"),
    ("Eastern Time (US & Canada)", "Eastern Standard Time"),
    ("Haiti", "Haiti Standard Time"),
    ("Havana", "Cuba Standard Time"),
    ("Indiana (East)", "US Eastern Standard Time"),
    ("Turks and Caicos", "Turks And Caicos Standard Time"),
    ("Asuncion", "Paraguay Standard Time"),
    ("Atlantic Time (Canada)", "Atlantic Standard Time"),
    ("Caracas", "Venezuela Standard Time"),
    ("Cuiaba", "Central Brazilian Standard Time"),
    ("Georgetown, La Paz, Manaus, San Juan", "SA Western Standard Time"),
    ("Santiago", "Pacific SA Standard Time"),
    ("Newfoundland", "Newfoundland Standard Time"),
    ("Araguaina", "Tocantins Standard Time"),
    ("Brasilia", "E. South America Standard Time"),
    ("Cayenne, Fortaleza", "SA Eastern Standard Time"),
    ("City of Buenos Aires", "Argentina Standard Time"),
    ("Greenland", "Greenland Standard Time"),
    ("Montevideo", "Montevideo Standard Time"),
    ("Punta Arenas", "Magallanes Standard Time"),
    ("Saint Pierre and Miquelon", "Saint Pierre Standard Time"),
    ("Salvador", "Bahia Standard Time"),
    ("Coordinated Universal Time-02", "UTC-02"),
    ("Azores", "Azores Standard Time"),
    ("Cabo Verde Is.", "Cape Verde Standard Time"),
    ("Coordinated Universal Time", "UTC"),
    ("Dublin, Edinburgh, Lisbon, London", "GMT Standard Time"),
    ("Monrovia, Reykjavik", "Greenwich Standard Time"),
    ("Sao Tome", "Sao Tome Standard Time"),
    ("Casablanca", "Morocco Standard Time"),
    ("Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "W. Europe Standard Time"),
    ("Belgrade, Bratislava, Budapest, Ljubljana, Prague", "Central Europe Standard Time"),
    ("Brussels, Copenhagen, Madrid, Paris", "Romance Standard Time"),
    ("Sarajevo, Skopje, Warsaw, Zagreb", "Central European Standard Time"),
    ("West Central Africa", "W. Central Africa Standard Time"),
    ("Amman", "Jordan Standard Time"),
    ("Athens, Bucharest", "GTB Standard Time"),
    ("Beirut", "Middle East Standard Time"),
    ("Cairo", "Egypt Standard Time"),
    ("Chisinau", "E. Europe Standard Time"),
    ("Damascus", "Syria Standard Time"),
    ("Gaza, Hebron", "West Bank Standard Time"),
    ("Harare, Pretoria", "South Africa Standard Time"),
    ("Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", "FLE Standard Time"),
    ("Jerusalem", "Israel Standard Time"),
    ("Juba", "South Sudan Standard Time"),
    ("Kaliningrad", "Kaliningrad Standard Time"),
    ("Khartoum", "Sudan Standard Time"),
    ("Tripoli", "Libya Standard Time"),
    ("Windhoek", "Namibia Standard Time"),
    ("Baghdad", "Arabic Standard Time"),
    ("Istanbul", "Turkey Standard Time"),
    ("Kuwait, Riyadh", "Arab Standard Time"),
    ("Minsk", "Belarus Standard Time"),
    ("Moscow, St. Petersburg", "Russian Standard Time"),
    ("Nairobi", "E. Africa Standard Time"),
    ("Tehran", "Iran Standard Time"),
    ("Abu Dhabi, Muscat", "Arabian Standard Time"),
    ("Astrakhan, Ulyanovsk", "Astrakhan Standard Time"),
    ("Baku", "Azerbaijan Standard Time"),
    ("Izhevsk, Samara", "Russia Time Zone 3"),
    ("Port Louis", "Mauritius Standard Time"),
    ("Saratov", "Saratov Standard Time"),
    ("Tbilisi", "Georgian Standard Time"),
    ("Volgograd", "Volgograd Standard Time"),
    ("Yerevan", "Caucasus Standard Time"),
    ("Kabul", "Afghanistan Standard Time"),
    ("Ashgabat, Tashkent", "West Asia Standard Time"),
    ("Ekaterinburg", "Ekaterinburg Standard Time"),
    ("Islamabad, Karachi", "Pakistan Standard Time"),
    ("Qyzylorda", "Qyzylorda Standard Time"),
    ("Chennai, Kolkata, Mumbai, New Delhi", "India Standard Time"),
    ("Sri Jayawardenepura", "Sri Lanka Standard Time"),
    ("Kathmandu", "Nepal Standard Time"),
    ("Astana", "Central Asia Standard Time"),
    ("Dhaka", "Bangladesh Standard Time"),
    ("Omsk", "Omsk Standard Time"),
    ("Yangon (Rangoon)", "Myanmar Standard Time"),
    ("Bangkok, Hanoi, Jakarta", "SE Asia Standard Time"),
    ("Barnaul, Gorno-Altaysk", "Altai Standard Time"),
    ("Hovd", "W. Mongolia Standard Time"),
    ("Krasnoyarsk", "North Asia Standard Time"),
    ("Novosibirsk", "N. Central Asia Standard Time"),
    ("Tomsk", "Tomsk Standard Time"),
    ("Beijing, Chongqing, Hong Kong, Urumqi", "China Standard Time"),
    ("Irkutsk", "North Asia East Standard Time"),
    ("Kuala Lumpur, Singapore", "Singapore Standard Time"),
    ("Perth", "W. Australia Standard Time"),
    ("Taipei", "Taipei Standard Time"),
    ("Ulaanbaatar", "Ulaanbaatar Standard Time"),
    ("Eucla", "Aus Central W. Standard Time"),
    ("Chita", "Transbaikal Standard Time"),
    ("Osaka, Sapporo, Tokyo", "Tokyo Standard Time"),
    ("Pyongyang", "North Korea Standard Time"),
    ("Seoul", "Korea Standard Time"),
    ("Yakutsk", "Yakutsk Standard Time"),
    ("Adelaide", "Cen. Australia Standard Time"),
    ("Darwin", "AUS Central Standard Time"),
    ("Brisbane", "E. Australia Standard Time"),
    ("Canberra, Melbourne, Sydney", "AUS Eastern Standard Time"),
    ("Guam, Port Moresby", "West Pacific Standard Time"),
    ("Hobart", "Tasmania Standard Time"),
    ("Vladivostok", "Vladivostok Standard Time"),
    ("Lord Howe Island", "Lord Howe Standard Time"),
    ("Bougainville Island", "Bougainville Standard Time"),
    ("Chokurdakh", "Russia Time Zone 10"),
    ("Magadan", "Magadan Standard Time"),
    ("Norfolk Island", "Norfolk Standard Time"),
    ("Sakhalin", "Sakhalin Standard Time"),
    ("Solomon Is., New Caledonia", "Central Pacific Standard Time"),
    ("Anadyr, Petropavlovsk-Kamchatsky", "Russia Time Zone 11"),
    ("Auckland, Wellington", "New Zealand Standard Time"),
    ("Coordinated Universal Time+12", "UTC+12"),
    ("Fiji", "Fiji Standard Time"),
    ("Chatham Islands", "Chatham Islands Standard Time"),
    ("Coordinated Universal Time+13", "UTC+13"),
    ("Nuku'alofa", "Tonga Standard Time"),
    ("Samoa", "Samoa Standard Time"),
    ("Kiritimati Island", "Line Islands Standard Time"),
)

# "(UTC+01:00) ", "(GMT-03:00) ", "(UTC) ": the offset Windows puts before the cities
_OFFSET_PREFIX = re.compile(r"^\(\s*(?:UTC|GMT)\s*(?:[+-]\s*\d{1,2}(?::\d{2})?)?\s*\)\s*", re.I)
# Exchange Online: "tzone://Microsoft/Utc", "tzone://Microsoft/Custom"
_EXCHANGE_PREFIX = "tzone://microsoft/"


class FileZones:
    """TZID -> tzinfo for one calendar file: a known name (:func:`iana_name`) first,
    then the file's VTIMEZONE of that name; else UTC, noted as a defect.

    ``definitions`` maps each VTIMEZONE's TZID to its text. icalendar's process-wide
    cache of VTIMEZONEs (filled by every file it parses) is not relied on: a zone
    means what this file, or the IANA database, says it means.
    """

    def __init__(self, definitions: dict[str, str]) -> None:
        self._definitions = definitions
        self._found: dict[str, tuple[tzinfo, str | None]] = {}

    def get(self, tzid: str, defects: list[str]) -> tzinfo:
        """The zone ``tzid`` names; what had to be guessed is appended to ``defects``."""
        if tzid not in self._found:
            self._found[tzid] = self._resolve(tzid)
        zone, note = self._found[tzid]
        if note:
            defects.append(note)
        return zone

    def _resolve(self, tzid: str) -> tuple[tzinfo, str | None]:
        shown = repr(tzid[:60])
        known = iana_name(tzid)
        if known:
            name, how = known
            note = f"TZID {shown} read as {name}" if how == "display" else None
            return zoneinfo.ZoneInfo(name), note
        text = self._definitions.get(tzid.strip())
        if text is None:
            return UTC, f"time zone {shown} unknown and not defined in the file: taken as UTC"
        try:
            definition = Timezone.from_ical(text)
            if not isinstance(definition, Timezone):
                raise TypeError(f"a {definition.name}, not a VTIMEZONE")
            return definition.to_tz(tzp, lookup_tzid=False), None
        except Exception as exc:  # offsets past 24 hours, and worse
            return UTC, f"VTIMEZONE {shown} unreadable ({type(exc).__name__}): taken as UTC"


def iana_name(tzid: str) -> tuple[str, str] | None:
    """The IANA zone a TZID names, and how it was recognised (``iana``, ``windows`` or
    ``display``), or None for a name that only a VTIMEZONE in the file can explain
    (``UTC+11``, ``Customized Time Zone``, a localized display name)."""
    name = tzid.strip().strip('"').strip()
    if name.lower().startswith(_EXCHANGE_PREFIX):
        name = name[len(_EXCHANGE_PREFIX) :]
    for candidate in _iana_candidates(name):
        if candidate in _iana_names():
            return candidate, "iana"
    windows = _windows().get(name.casefold())
    if windows:
        return windows, "windows"
    display = _displays().get(_normalized(_OFFSET_PREFIX.sub("", name)))
    if display:
        return display, "display"
    return None


def _iana_candidates(name: str) -> list[str]:
    """The name itself, then, for a vendor-prefixed id (``/mozilla.org/...``,
    ``/freeassociation.sourceforge.net/Tzfile/...``), each shorter tail of it."""
    parts = [p for p in name.split("/") if p]
    if not parts or not (name.startswith("/") or "." in parts[0]):
        return ["/".join(parts)]
    return ["/".join(parts[start:]) for start in range(len(parts))]


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _windows() -> dict[str, str]:
    return {windows.casefold(): iana for windows, iana in WINDOWS_TO_OLSON.items()}


@functools.cache
def _displays() -> dict[str, str]:
    return {_normalized(display): WINDOWS_TO_OLSON[windows] for display, windows in DISPLAY_NAMES}


def _normalized(display: str) -> str:
    """Case, accents (Brasília) and spacing do not matter."""
    decomposed = unicodedata.normalize("NFKD", display)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().replace("\\,", ",").split())
