"""The Flask web view and the CardDAV export (reads and writes through crm only)."""
