"""What a migration does to the test app's foreign key to sessions.

History here, so the rest of the suite sees the project's own tables only;
`tests/test_reference_registry.py` declares open surveys a `Move`, the one line a real app would
write, and sees them in every view of a session's references.
"""

from sessions_app.references import KeepHistory, Reference

REFERENCES = (Reference("testapp.Survey.session", KeepHistory()),)
