"""Staff tools: sessions, groups, organizations and the audit of every migration.

The admin only collects input and shows results; every move goes through
`sessions_app.services.migration`, the same code the automatic path and the command use.

One module per model or concern: `organizations`, `sessions` (the list and a session's page),
`panel` (what points at a session), `moves` (move and adopt actions), `pairing`, `timeline`,
`gateway_actions`, `groups`, `audit` with `audit_rows` and `undo`; `counts`, `display`,
`filters` (the session filter of every list of rows pointing at sessions), `filter_summary`
(the "Filtered: …" line above a list) and `search` (phones typed any way) are shared by them.
Importing the model modules registers their ModelAdmins.
"""

from sessions_app.admin import audit, groups, organizations, sessions  # noqa: F401
