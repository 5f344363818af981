"""The Graph simulator's test API for calendars and contacts (mixed into
:class:`tests.servers.graph_state.GraphState`): events and recurring series with
exceptions and cancelled occurrences, contact folders and contacts."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from typing import Any

from tests.servers.graph_calendar import Event
from tests.servers.graph_mail import new_change_key, new_id, now_utc
from tests.servers.graph_store import Calendar, Contact, Folder, Mailbox


class PimState:
    """Calendar and contact state; see the methods."""

    lock: threading.RLock
    _owner: dict[str, Mailbox]

    def mailbox(self, user: str) -> Mailbox:
        raise NotImplementedError

    # -- calendar --------------------------------------------------------------------------------

    def add_calendar(self, user: str, name: str) -> str:
        with self.lock:
            calendar = Calendar(new_id("AAMkAC"), name, False)
            self.mailbox(user).calendars[calendar.id] = calendar
            return calendar.id

    def add_event(
        self,
        user: str,
        *,
        subject: str,
        start: dt.datetime,
        end: dt.datetime,
        time_zone: str | None = None,
        calendar: str | None = None,
        ical_uid: str | None = None,
        **props: Any,
    ) -> str:
        """A single event or, with ``recurrence`` (Graph's patternedRecurrence dict), a
        series. ``start``/``end`` are wall-clock times in ``time_zone`` (default: the
        mailbox's). Other keywords: is_all_day, sensitivity, show_as, is_cancelled,
        organizer=(name, address), attendees=[{address, name, type, response}], location,
        body, categories. Returns the event (or series master) id."""
        now = now_utc()
        uid = ical_uid or (
            "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()
        )
        with self.lock:
            box = self.mailbox(user)
            cal = box.calendar(calendar)
            assert cal is not None, calendar
            event = Event(
                new_id(),
                cal.id,
                subject,
                start.replace(tzinfo=None),
                end.replace(tzinfo=None),
                time_zone or box.time_zone,
                uid,
                now,
                now,
                **props,
            )
            cal.events[event.id] = event
            self._owner[event.id] = box
            return event.id

    def _event(self, event_id: str) -> Event:
        event = self._owner[event_id].event(event_id)
        assert event is not None
        return event

    def _touch(self, event: Event) -> str:
        event.change_key, event.modified = "DwAAABYAAAA" + secrets.token_hex(8), now_utc()
        return event.change_key

    def update_event(self, event_id: str, **changes: Any) -> str:
        """Change an event or a whole series (Event attribute names); returns the changeKey."""
        with self.lock:
            event = self._event(event_id)
            for name, value in changes.items():
                if name in ("start", "end"):
                    value = value.replace(tzinfo=None)
                setattr(event, name, value)
            return self._touch(event)

    def modify_occurrence(self, event_id: str, original_start: dt.datetime, **changes: Any) -> None:
        """Turn one occurrence (by its original wall-clock start) into an exception."""
        with self.lock:
            event = self._event(event_id)
            key = original_start.replace(tzinfo=None).isoformat()
            fixed = {
                k: v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v
                for k, v in changes.items()
            }
            event.exceptions[key] = {**event.exceptions.get(key, {}), **fixed}
            event.modified = now_utc()

    def cancel_occurrence(self, event_id: str, original_start: dt.datetime) -> None:
        """Delete one occurrence of a series (it leaves the calendarView: @removed)."""
        with self.lock:
            event = self._event(event_id)
            event.cancelled.add(original_start.replace(tzinfo=None).isoformat())
            event.modified = now_utc()

    def delete_event(self, event_id: str) -> None:
        with self.lock:
            box = self._owner.pop(event_id)
            for calendar in box.calendars.values():
                calendar.events.pop(event_id, None)

    # -- contacts ----------------------------------------------------------------------------------

    def add_contact_folder(self, user: str, name: str) -> str:
        with self.lock:
            box = self.mailbox(user)
            root = box.well_known["msgfolderroot"]
            folder = Folder(new_id("AAMkAF"), name, root)
            box.contact_folders[folder.id] = folder
            return folder.id

    def add_contact(self, user: str, folder: str | None = None, **props: Any) -> str:
        """A contact with Graph's property names (displayName, givenName, surname,
        companyName, jobTitle, emailAddresses=[{name, address}], businessPhones,
        mobilePhone, homePhones, businessAddress={street, city, ...}, categories,
        personalNotes...). Returns its id."""
        now = now_utc()
        with self.lock:
            box = self.mailbox(user)
            target = box.contact_folder(folder)
            assert target is not None, folder
            contact = Contact(new_id(), target.id, dict(props), now, now)
            box.contacts[contact.id] = target.items[contact.id] = contact
            self._owner[contact.id] = box
            return contact.id

    def update_contact(self, contact_id: str, **props: Any) -> str:
        with self.lock:
            contact = self._owner[contact_id].contacts[contact_id]
            contact.props.update(props)
            contact.change_key, contact.modified = new_change_key(), now_utc()
            return contact.change_key

    def delete_contact(self, contact_id: str) -> None:
        with self.lock:
            box = self._owner.pop(contact_id)
            contact = box.contacts.pop(contact_id)
            box.contact_folders[contact.folder_id].items.pop(contact_id, None)
