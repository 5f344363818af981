"""The admin page of address books (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from crm.addressbooks import all_books
from tests.web.conftest import Browser, _logged_in

URL = "/admin/address-books"


def text(response) -> str:
    return response.get_data(as_text=True)


def slugs(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [b.slug for b in all_books(session)]


def add(admin: Browser, **fields: str | list[str]):
    admin.get(URL)
    form = {"kind": "owner", "roles": ["admin", "staff"], **fields}
    return admin.post(URL, form)


def test_the_page_lists_all_customers_as_built_in(admin: Browser) -> None:
    page = text(admin.get(URL))
    assert 'data-book="customers"' in page and "built in" in page
    assert "admin, staff" in page
    assert 'href="/admin/address-books" aria-current="page">Address books</a>' in page


def test_adding_a_book_serves_it_to_the_roles_chosen(app: Flask, admin: Browser, sessions):
    response = add(
        admin, slug="vip", name="VIP customers", kind="category", value="VIP", roles=["viewer"]
    )
    assert response.status_code == 302 and response.headers["Location"] == URL
    page = text(admin.get(URL))
    assert "Address book “VIP customers” added: Customers in the category VIP." in page
    assert 'data-book="vip"' in page
    assert slugs(sessions) == ["customers", "vip"]
    with sessions() as session:
        (book,) = (b for b in all_books(session) if b.slug == "vip")
        assert (book.kind, book.value, book.roles) == ("category", "VIP", ("viewer",))
    viewer = text(_logged_in(app, "viewer").get("/profile"))
    assert "/dav/addressbooks/viewer/vip/" in viewer
    assert "/vip/" not in text(_logged_in(app, "staff").get("/profile"))


def test_a_book_by_owner_names_an_existing_user(admin: Browser, sessions) -> None:
    response = add(admin, slug="staffs-customers", name="", value="staff")
    assert response.status_code == 302
    page = text(admin.get(URL))
    assert "Customers looked after by staff" in page
    assert "<td>staffs-customers</td>" in page  # no display name: the short name
    assert slugs(sessions) == ["customers", "staffs-customers"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"slug": "Not A Slug!", "value": "staff"}, "lower-case letters, digits and dashes"),
        ({"slug": "customers", "value": "staff"}, "lower-case letters, digits and dashes"),
        ({"slug": "mine", "value": "nobody"}, "there is no user named &#39;nobody&#39;"),
        ({"slug": "vip", "kind": "category", "value": "  "}, "name the category"),
        ({"slug": "vip", "kind": "category", "value": "VIP", "roles": []}, "choose the roles"),
        ({"slug": "vip", "kind": "everyone", "value": "VIP"}, "Not a valid choice"),
        ({"slug": "vip", "kind": "category", "value": "VIP", "roles": ["root"]}, "not a valid"),
        ({"slug": "", "value": "staff"}, "This field is required."),
    ],
)
def test_bad_input_is_refused_with_the_reason(admin: Browser, sessions, fields, reason) -> None:
    response = add(admin, **fields)
    assert response.status_code == 400
    page = text(response)
    assert reason in page, page
    assert slugs(sessions) == ["customers"]
    if fields["slug"]:  # what was typed stays in the form
        assert f'value="{fields["slug"]}"' in page.replace("&#39;", "'")


def test_a_short_name_is_taken_once(admin: Browser, sessions) -> None:
    assert add(admin, slug="vip", kind="category", value="VIP").status_code == 302
    again = add(admin, slug="vip", kind="category", value="Gold")
    assert again.status_code == 400
    assert "an address book &#39;vip&#39; exists already" in text(again)
    assert slugs(sessions) == ["customers", "vip"]


def test_deleting_a_book(admin: Browser, sessions) -> None:
    add(admin, slug="vip", kind="category", value="VIP")
    admin.get(URL)
    response = admin.post(f"{URL}/vip/delete")
    assert response.status_code == 302
    assert "Address book vip deleted" in text(admin.get(URL))
    assert slugs(sessions) == ["customers"]
    assert admin.post(f"{URL}/vip/delete").status_code == 404
    assert admin.post(f"{URL}/customers/delete").status_code == 404  # built in
    assert slugs(sessions) == ["customers"]


def test_deleting_needs_the_csrf_token(admin: Browser, sessions) -> None:
    add(admin, slug="vip", kind="category", value="VIP")
    response = admin.client.post(f"{URL}/vip/delete")
    assert response.status_code == 400
    assert "The CSRF token is missing" in text(response)
    assert slugs(sessions) == ["customers", "vip"]


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_only_admins_may_see_or_change_address_books(app: Flask, role: str, sessions) -> None:
    browser = _logged_in(app, role)
    assert browser.get(URL).status_code == 403
    added = browser.post(URL, {"slug": "x", "kind": "category", "value": "X", "roles": "staff"})
    assert added.status_code == 403
    assert slugs(sessions) == ["customers"]
    assert 'href="/admin/address-books"' not in text(browser.get("/customers"))
