from django.db import models
from django.db.models import Func
from django.utils.translation import gettext_lazy as _

from sessions_app.phones import normalize_phone_number


class E164PhoneNumberField(models.CharField):
    """A phone number stored in E.164, normalized on validation and on every save."""

    description = _("Phone number in E.164")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 20:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None if self.null else value
        return normalize_phone_number(value)

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value not in self.empty_values:
            value = normalize_phone_number(value)
            setattr(model_instance, self.attname, value)
        return value


class JSONTypeOf(Func):
    """The JSON type of a value ("object", "array", ...), for constraints on JSON columns."""

    function = "jsonb_typeof"
    output_field = models.CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_type", **extra_context)
