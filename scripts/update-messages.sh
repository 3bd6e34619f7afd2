#!/usr/bin/env bash
# `make messages`: refresh every catalog in locale/ from the strings marked in the code and
# templates; new strings arrive untranslated, changed ones fuzzy, for a translator to fill in.
#
# No line numbers and no wrapping, so a change elsewhere in a file moves no line of a catalog.
# The tests run this same script on a copy of the tree to find strings the catalog lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
export DJANGO_SETTINGS_MODULE=config.settings
# Only the settings are read: development defaults stand in for production's variables.
export DJANGO_DEBUG=1

shopt -s nullglob
languages=()
for catalog in locale/*/LC_MESSAGES/django.po; do
  languages+=(--locale "$(basename "$(dirname "$(dirname "$catalog")")")")
done
# A new language: LANGUAGES=xx_YY (a locale name, e.g. pt_BR) starts its catalog.
for language in ${LANGUAGES:-}; do
  languages+=(--locale "$language")
done
if [ ${#languages[@]} -eq 0 ]; then
  echo "update-messages: no catalog in locale/; start one with LANGUAGES=xx_YY $0" >&2
  exit 1
fi

"$PYTHON" manage.py makemessages "${languages[@]}" --domain django \
  --no-obsolete --no-wrap --add-location file \
  --ignore 'tests/*' --ignore 'benchmarks/*' --ignore 'scripts/*' --ignore 'docs/*' \
  --ignore 'staticfiles/*' --ignore 'build/*' -v 0
