"""Admin pages that are not a model's list or form, hooked in through `get_urls`."""
