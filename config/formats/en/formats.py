# https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date
# Year first (unambiguous between readers of either side of the Atlantic), 24-hour clock, zone.
DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
