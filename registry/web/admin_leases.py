"""Admin pages for issuers' leases and their hourly rollups (registry/models/leases.py):
read-only, for an operator checking what a pipeline recorded. Recorded only through the
API (services/leases.py); raw leases leave with the retention purge."""

from __future__ import annotations

from django.contrib import admin

from registry.models import Lease, LeaseHour
from registry.web.admin import ReadOnlyAdmin


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    list_display = ["issued_at", "issuer", "lease_ref", "subject", "ttl_seconds", "recorded_by"]
    list_select_related = ["issuer"]
    raw_id_fields = ["issuer"]


@admin.register(LeaseHour)
class LeaseHourAdmin(ReadOnlyAdmin):
    list_display = ["hour", "issuer", "leases", "max_seconds", "last_issued_at"]
    list_select_related = ["issuer"]
    raw_id_fields = ["issuer"]
