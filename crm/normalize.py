"""Normalizing e-mail addresses, domains and phone numbers, the keys matching uses."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import bic, iban, vatin
from stdnum.exceptions import ValidationError


class InvalidValueError(ValueError):
    """Raised when a value entered by a person (an import row, a form) is not valid.

    ``field`` names what was wrong, ``value`` what was given, ``reason`` why.
    """

    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(f"{field} {value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


def email_key(address: str) -> str:
    """The matching key of an address as found in mail: trimmed and lower-cased.

    Cheap and total (never raises): mail headers are full of odd addresses,
    and an odd address must still be stored and shown.
    """
    return address.strip().strip("<>").strip().rstrip(".").lower()


def domain_of(address: str) -> str:
    """The domain of an address (``""`` if it has none), lower-cased."""
    _, _, domain = email_key(address).rpartition("@")
    return domain


def valid_email(address: str) -> str:
    """An address a person entered, validated (syntax only, no DNS) and normalized."""
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValueError("email", address, str(exc)) from None
    return email_key(result.normalized)


def valid_domain(domain: str) -> str:
    """A mail domain a person entered (``example.org``, ``@example.org``), normalized."""
    cleaned = domain.strip().lstrip("@").rstrip(".").lower()
    try:
        validate_email(f"postmaster@{cleaned}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValueError("domain", domain, str(exc)) from None
    return cleaned


def phone_e164(number: str, default_region: str) -> str:
    """A phone number in E.164 (``+4930123456``), written with or without ``+CC``.

    Raises :class:`InvalidValueError` for what is not a valid number in the
    numbering plan (``phonenumbers`` metadata), such as ``12`` or ``1234``.
    """
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValueError("phone", number, str(exc)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValueError(
            "phone", number, f"not a valid phone number (region {default_region})"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def valid_iban(value: str) -> str:
    """An IBAN a person entered (spaces allowed), checked (country format and the
    ISO 7064 check digits) and compact: ``DE89370400440532013000``."""
    try:
        return str(iban.validate(value))
    except ValidationError as exc:
        raise InvalidValueError("IBAN", value, _why(exc)) from None


def valid_bic(value: str) -> str:
    """A BIC (SWIFT code) of 8 or 11 characters, upper-case: ``COBADEFFXXX``."""
    try:
        return str(bic.validate(value))
    except ValidationError as exc:
        raise InvalidValueError("BIC", value, _why(exc)) from None


def valid_vat_id(value: str) -> str:
    """A VAT identification number with its country prefix (``DE136695976``), checked
    by that country's rules (python-stdnum's ``vatin``); compact, upper-case."""
    try:
        return str(vatin.validate(value))
    except ValidationError as exc:
        raise InvalidValueError("VAT id", value, _why(exc)) from None


def _why(exc: ValidationError) -> str:
    """python-stdnum's reason in plain words."""
    return {
        "InvalidChecksum": "the check digits do not match: a typing error?",
        "InvalidLength": "it has the wrong number of characters",
        "InvalidFormat": "it is not written the way this kind of number is",
        "InvalidComponent": "a part of it (country, bank or check code) is not valid",
    }.get(type(exc).__name__, str(exc) or "not valid")
