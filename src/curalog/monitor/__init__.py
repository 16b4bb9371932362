"""Watching a project over time: health snapshots, red-flag alerts, the dashboard and the nightly run."""

#: the dashboard page `curalog dashboard` and the demo write when no --output is given
DASHBOARD = "data/health-dashboard.html"
