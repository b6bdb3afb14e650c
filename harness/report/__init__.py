"""Reports: leaderboard (Markdown), run details, comparisons."""
