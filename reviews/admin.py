from django.contrib import admin

from .models import ReviewerGroup


@admin.register(ReviewerGroup)
class ReviewerGroupAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "kind", "rank"]
    list_filter = ["kind"]
    filter_horizontal = ["members"]
