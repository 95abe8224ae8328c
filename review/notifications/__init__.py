"""Mail the site sends on its own: review reminders before each deadline."""
