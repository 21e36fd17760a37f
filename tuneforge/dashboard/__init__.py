"""The web dashboard: runs side by side, a run's errors, the registry and its live split, monitor trends and
drift, and a playground; served at `/` by `tuneforge serve` and by `tuneforge dashboard`.

The page is plain HTML + hand-written JavaScript in `static/` (no build step, nothing fetched at run time);
every chart is drawn in the browser as inline SVG from the JSON endpoints in `api.py`.
"""
