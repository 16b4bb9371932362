"""Other tools' formats: curation decisions out of (and into) COCO, Label Studio and FiftyOne."""
