"""Pages support: static page routes and the dashboard metrics history."""
