"""Readable words and dates (issue 16): no "Skippedgone", no "1 days", no raw ISO
timestamps in the timeline; and the page furniture that makes errors and the phone menu
accessible (the menu button, the live region, errors tied to their fields)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django import forms
from django.template.loader import render_to_string
from django.urls import reverse

from registry import services
from registry.importers.base import ImportRow
from registry.services.imports import paths_import
from registry.templatetags import wording_tags as words
from tests.conftest import NOW
from tests.web.helpers import detail_url

pytestmark = pytest.mark.django_db

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern} not in {text[:200]!r}"
    return match.group(1)


def test_a_moment_is_a_day_a_time_and_its_zone():
    moment = dt.datetime(2026, 11, 30, 14, 5, 33, tzinfo=dt.UTC)
    assert words.moment(moment) == "30 Nov 2026, 14:05 UTC"
    # The audit trail keeps changes as JSON, so a date comes back as an ISO string.
    assert words.moment("2026-11-30T14:05:33+00:00") == "30 Nov 2026, 14:05 UTC"
    # Another offset is shown in UTC, the registry's one zone.
    assert words.moment("2026-11-30T15:05:00+01:00") == "30 Nov 2026, 14:05 UTC"
    assert (
        words.moment_tag(moment) == '<time datetime="2026-11-30T14:05:33+00:00">'
        "30 Nov 2026, 14:05 UTC</time>"
    )


def test_a_value_that_is_not_a_moment_is_left_as_it_is():
    assert words.moment("payments") == "payments"
    assert words.moment("2026-11-30") == "2026-11-30"  # a date alone has no time to show
    assert words.moment(None) == ""


def test_each_side_of_a_change_reads_as_words():
    assert words.change_value(None) == "—"
    assert words.change_value("") == "—"
    assert words.change_value(True) == "yes"
    assert words.change_value(False) == "no"
    assert words.change_value(["aws", "gcp"]) == "aws, gcp"
    assert words.change_value(["2026-11-30T14:05:00+00:00"]) == "30 Nov 2026, 14:05 UTC"
    assert "30 Nov 2026, 14:05 UTC</time>" in words.change_value("2026-11-30T14:05:00+00:00")
    assert words.change_value(90) == "90"
    # Text is escaped by the template as usual: the filter returns it unmarked.
    assert words.change_value("<b>") == "<b>"
    assert not hasattr(words.change_value("<b>"), "__html__")


@pytest.mark.parametrize(
    ("count", "said"), [(1, "1 day"), (0, "0 days"), (14, "14 days"), (-1, "-1 day")]
)
def test_days_take_the_plural_only_when_there_are_several(count, said):
    assert words.days(count) == said


def test_codes_read_as_words():
    assert words.code_words("claim_approved") == "claim approved"
    assert words.code_words("access_path.lapsed") == "lapsed"
    assert words.import_count_label("skipped_gone") == "Skipped (already gone at the source)"
    assert words.import_count_label("listed_but_retired") == "Listed but retired here"
    assert words.import_count_label("something_new") == "Something new"


def test_the_timeline_shows_an_edited_expiry_as_a_date_not_an_iso_string(client, personas, path):
    services.path_update(
        actor=personas.lee,
        path=path,
        changes={"expires_at": dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)},
        now=NOW + dt.timedelta(hours=1),
    )
    client.force_login(personas.users.pat)
    html = client.get(detail_url(path)).content.decode()
    timeline = html[html.index('id="timeline-heading"') :]
    timeline = timeline[: timeline.index("</section>")]
    assert '<time datetime="2027-03-01T09:30:00+00:00">1 Mar 2027, 09:30 UTC</time>' in timeline
    assert "<dt>Expires at</dt>" in timeline
    # Every moment the timeline shows is in words; ISO values live only in attributes.
    text = re.sub(r"<[^>]+>", " ", timeline)
    assert not ISO.search(text), ISO.search(text)


def test_an_import_names_its_skipped_rows_in_words(client, personas):
    gone = ImportRow(
        line=2,
        data={
            "name": "old-reader",
            "kind": "api_token",
            "system": "bulk",
            "external_id": "bulk:old-reader",
            "environment": "dev",
            "created_via": "discovery",
        },
        disabled=True,
    )
    report = paths_import(actor=personas.system, rows=[gone], source_format="csv", now=NOW)
    assert report.run.counts.get("skipped_gone") == 1
    client.force_login(personas.users.sam)
    html = client.get(reverse("registry:import-detail", args=[report.run.pk])).content.decode()
    assert "<dt>Skipped (already gone at the source)</dt>" in html
    assert "Skippedgone" not in html


def test_every_page_has_the_menu_button_and_the_error_announcer(client, personas):
    client.force_login(personas.users.pat)
    html = client.get(reverse("registry:dashboard")).content.decode()
    button = re.search(r'<button type="button" class="menu-toggle[^"]*"([^>]*)>Menu</button>', html)
    assert button, "no Menu button in the top bar"
    assert 'aria-expanded="false"' in button.group(1)
    controls = found(r'aria-controls="([^"]+)"', button.group(1))
    assert f'id="{controls}"' in html
    menu = html[html.index(f'id="{controls}"') :]
    assert menu.index('<nav aria-label="Main">') < menu.index("</header>")
    # The live region outlives HTMX swaps of #main: it sits after it, not inside.
    assert html.index('id="form-announcer"') > html.index("</main>")
    assert 'aria-live="assertive"' in html
    for script in ("js/menu.js", "js/forms.js", "js/scroll-boxes.js"):
        assert re.search(rf'<script src="[^"]*{script}" defer></script>', html), script


def test_a_filter_error_is_tied_to_its_field():
    """The shared field template gives the error the id Django's aria-describedby names."""

    class Form(forms.Form):
        expires_before = forms.DateTimeField(label="Expires before")

    field = Form(data={"expires_before": "soon"})["expires_before"]
    html = render_to_string("registry/_filter_field.html", {"field": field, "team_filters": ()})
    tag = found(r"(<input[^>]*name=\"expires_before\"[^>]*>)", html)
    assert 'aria-invalid="true"' in tag
    described = found(r'aria-describedby="([^"]+)"', tag).split()
    assert "id_expires_before_error" in described
    assert re.search(r'<div class="error" id="id_expires_before_error">[^<]+</div>', html)
