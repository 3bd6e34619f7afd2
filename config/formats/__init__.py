"""The project's date and time formats, one module per language (FORMAT_MODULE_PATH).

Every date and time staff read carries its time zone: lists, pages and the `date` filter all
use DATETIME_FORMAT. What a module leaves out comes from Django's own formats for the language.
"""
