"""Rating campaigns: projects, their settings and guidelines, pull sources."""
