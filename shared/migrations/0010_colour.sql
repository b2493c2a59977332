-- What the preview worker found of an original's colour and HDR (docs/preview.md, "Colour" and "HDR"):
-- the source's colour space (srgb, display-p3, adobe-rgb, prophoto-rgb, rec2020, rgb, cmyk, grey...),
-- how it was known (icc, exif, assumed), the embedded profile's own description, the gamut the
-- preview was written in (srgb or display-p3), and the HDR the original holds beyond its SDR picture
-- (ultra-hdr, iso-21496-1, apple-gain-map, pq, hlg) with its headroom in stops. An Image keeps them.
ALTER TABLE proxy_images
    ADD COLUMN IF NOT EXISTS colour_space    text,
    ADD COLUMN IF NOT EXISTS colour_evidence text,
    ADD COLUMN IF NOT EXISTS colour_profile  text,
    ADD COLUMN IF NOT EXISTS preview_gamut   text,
    ADD COLUMN IF NOT EXISTS hdr_format      text,
    ADD COLUMN IF NOT EXISTS hdr_headroom    real;

ALTER TABLE images
    ADD COLUMN IF NOT EXISTS colour_space   text,
    ADD COLUMN IF NOT EXISTS colour_profile text,
    ADD COLUMN IF NOT EXISTS hdr_format     text,
    ADD COLUMN IF NOT EXISTS hdr_headroom   real;
