"""The renditions as data (`shared.imaging.renditions`): the list, its rules and the operator's sizes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shared import imaging
from shared.imaging import decode_cost, renditions
from shared.imaging.renditions import PREVIEW, SPECS, THUMBNAIL, Spec


def _settings(**given: object) -> SimpleNamespace:
    names = ("preview_max_dimension", "preview_quality", "thumbnail_width", "thumbnail_height",
             "thumbnail_quality")
    return SimpleNamespace(**{name: given.get(name) for name in names})


def test_the_preview_and_thumbnail_are_the_first_two_entries_of_the_list():
    assert SPECS[:2] == (PREVIEW, THUMBNAIL)
    assert (PREVIEW.width, PREVIEW.height, PREVIEW.crop, PREVIEW.quality) == (2048, 2048, False, 85)
    assert (THUMBNAIL.width, THUMBNAIL.height, THUMBNAIL.crop, THUMBNAIL.quality) == (400, 400, True, 80)


def test_the_2048_is_defined_once_and_the_other_places_derive_it():
    assert imaging.Limits().preview_max == decode_cost.PREVIEW_EDGE == PREVIEW.long_edge
    assert imaging.Limits.from_settings(SimpleNamespace(
        **vars(_settings()), max_pixels=1, max_preview_size=1, raw_min_embedded_edge=1, job_memory_mb=1,
        preview_gamut="srgb")).renditions == SPECS


def test_unset_settings_keep_the_specs_and_set_ones_resize_the_preview_and_thumbnail():
    assert renditions.configured(_settings()) == SPECS
    specs = renditions.configured(_settings(preview_max_dimension=1600, thumbnail_width=300,
                                            thumbnail_quality=70))
    assert (specs[0].width, specs[0].height, specs[0].quality) == (1600, 1600, 85)
    assert (specs[1].width, specs[1].height, specs[1].quality) == (300, 400, 70)


def test_a_monkeypatched_list_is_what_limits_and_configured_read(monkeypatch: pytest.MonkeyPatch):
    web = Spec("web", 1024, 1024, quality=82)
    monkeypatch.setattr(renditions, "SPECS", (*SPECS, web))
    assert imaging.Limits().renditions[-1] == web
    assert renditions.configured(_settings(preview_max_dimension=1600))[-1] == web


@pytest.mark.parametrize("specs", [
    (THUMBNAIL, PREVIEW),  # the preview is not first
    (PREVIEW,),  # no thumbnail
    (PREVIEW, THUMBNAIL, Spec("thumbnail", 10, 10)),  # a name twice
    (PREVIEW, THUMBNAIL, Spec("Web Size", 10, 10)),  # not a plain name (it is in keys and URLs)
    (PREVIEW, THUMBNAIL, Spec("big", 4096, 4096)),  # larger than the preview it is cut from
    (PREVIEW, THUMBNAIL, Spec("webp", 100, 100, format="webp")),  # no such encoder here
    (PREVIEW, THUMBNAIL, Spec("bad", 100, 100, quality=0)),
])
def test_lists_that_cannot_be_rendered_are_refused(specs: tuple[Spec, ...]):
    with pytest.raises(ValueError):
        renditions.check(specs)


@pytest.mark.parametrize(("spec", "source", "size"), [
    (THUMBNAIL, (2048, 1365), (400, 400)),  # a crop is always its box
    (Spec("web", 1024, 1024), (2048, 1366), (1024, 683)),  # a fit keeps the aspect ratio
    (Spec("web", 1024, 1024), (600, 400), (600, 400)),  # and never enlarges
    (Spec("strip", 1024, 100), (2048, 1365), (150, 100)),  # the tighter side decides
])
def test_a_rendition_cut_from_the_preview_has_the_size_its_spec_says(spec, source, size):
    assert spec.size_for(*source) == size


def test_a_row_from_before_the_renditions_column_still_names_its_preview_and_thumbnail():
    from shared.db.renditions import columns_for, recorded, rendition_keys

    old = {"renditions": {}, "preview_path": "p.jpg", "thumbnail_path": "t.jpg"}
    assert recorded(old) == {"preview": {"key": "p.jpg"}, "thumbnail": {"key": "t.jpg"}}
    new = {"renditions": {"preview": {"key": "e-3000w.jpg", "width": 3000, "height": 2000},
                          "web": {"key": "w.jpg"}}, "preview_path": "e-3000w.jpg", "thumbnail_path": None}
    assert rendition_keys(new) == ["e-3000w.jpg", "w.jpg"]
    made = {"preview": {"key": "p.jpg", "width": 2, "height": 1}, "web": {"key": "w.jpg"}}
    assert columns_for(made) == {"renditions": made, "preview_path": "p.jpg", "thumbnail_path": None}
