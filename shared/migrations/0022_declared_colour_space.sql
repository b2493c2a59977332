-- the colour space the file's metadata declares, named apart from the one the render found (0010)
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'images' AND column_name = 'color_space') THEN
        ALTER TABLE images RENAME COLUMN color_space TO declared_colour_space;
    END IF;
END $$;
