"""Mail the site sends on its own: review reminders before each deadline (reminders.py), notices
to the students an action affects (events.py) and the weekly staff digest (digest.py)."""
