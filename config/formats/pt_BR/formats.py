# https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date
# Day first as Brazil writes it, 24-hour clock, zone.
DATE_FORMAT = "d/m/Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "d/m/Y H:i T"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
