"""The staff outbox: every mail the site queued, whether it went out, and "resend"."""
