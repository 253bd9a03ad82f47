from django.contrib import admin

from rotations.models import Person


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["handle", "name", "email", "matrix_id", "timezone", "active"]
    list_filter = ["active", "timezone"]
    search_fields = ["handle", "name", "email", "matrix_id"]
    autocomplete_fields = ["user"]
