"""The domain: customers, their interaction history, matching and ingest.

crm knows nothing of protocols or HTTP. Its functions take a SQLAlchemy
``Session``; the caller owns the transaction.
"""
