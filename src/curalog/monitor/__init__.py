"""Watching a project over time: health snapshots, red-flag alerts, the dashboard and the nightly run."""
