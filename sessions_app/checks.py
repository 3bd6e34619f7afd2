"""`manage.py check` fails when a foreign key to a session or a group declares no migration rule."""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps as global_apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from sessions_app.references import (
    GROUP_MODEL,
    SESSION_MODEL,
    KeepHistory,
    MergeGroups,
    Move,
    RepointOnMerge,
    declared_references,
)

_FITTING_RULES = {
    SESSION_MODEL: (Move, MergeGroups, KeepHistory),
    GROUP_MODEL: (RepointOnMerge, KeepHistory),
}


def _target_label(field: models.Field) -> str | None:
    target = field.related_model
    if isinstance(target, str):
        return target if "." in target else None
    return target._meta.label if target is not None else None


def foreign_keys_to_sessions_and_groups(
    models_to_check: Iterable[type[models.Model]],
) -> list[models.ForeignKey]:
    """Every concrete foreign key (or one-to-one) to a session or a group in these models."""
    return [
        field
        for model in models_to_check
        for field in model._meta.local_fields
        if field.many_to_one or field.one_to_one
        if field.concrete and _target_label(field) in _FITTING_RULES
    ]


@checks.register(checks.Tags.models)
def check_session_references_declared(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if app_configs is None:
        models_to_check = global_apps.get_models(include_auto_created=True)
    else:
        models_to_check = [
            model
            for app_config in app_configs
            for model in app_config.get_models(include_auto_created=True)
        ]
    declared = {ref.label: ref for ref in declared_references()}
    errors: list[checks.CheckMessage] = []
    for field in foreign_keys_to_sessions_and_groups(models_to_check):
        label = f"{field.model._meta.label}.{field.name}"
        target = _target_label(field)
        ref = declared.get(label)
        if ref is None:
            errors.append(
                checks.Error(
                    f"{label} points at {target} but declares nothing about what a session "
                    "migration does to it.",
                    hint=(
                        f'Add Reference("{label}", <rule>) to REFERENCES in '
                        f"{field.model._meta.app_config.name.replace('.', '/')}/references.py."
                    ),
                    obj=field,
                    id="sessions_app.E001",
                )
            )
        elif not isinstance(ref.rule, _FITTING_RULES[target]):
            errors.append(
                checks.Error(
                    f"{label} points at {target}, which {type(ref.rule).__name__} does not "
                    "apply to.",
                    obj=field,
                    id="sessions_app.E002",
                )
            )
    if app_configs is None:
        errors.extend(_declarations_of_missing_fields())
    return errors


def _declarations_of_missing_fields() -> list[checks.CheckMessage]:
    errors = []
    for ref in declared_references():
        try:
            ref.field  # noqa: B018  (resolving it is the check)
        except (LookupError, FieldDoesNotExist):
            errors.append(
                checks.Error(
                    f"The references declare {ref.label}, which does not exist.",
                    id="sessions_app.E003",
                )
            )
    return errors
