"""The staff outbox: every mail the site queued, whether it went out, and "resend"; and the
background jobs that failed for good, with "run again"."""
