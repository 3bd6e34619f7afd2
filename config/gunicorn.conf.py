"""gunicorn settings; every value can be overridden from the environment."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = "-"
errorlog = "-"
wsgi_app = "config.wsgi:application"
# One fixed control-socket path per user would be shared by every server on the machine (a
# `make run` next to the test suite's): the admin needs no runtime control, so there is none.
control_socket_disable = True
