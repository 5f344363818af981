"""The CardDAV export against real clients: vdirsyncer, khard and the caldav library."""
