"""The ledger's SQL schema. CHECK constraints and triggers make the worst defects of the legacy
logs impossible to store even if the Python validation had a bug: 0x0 sizes, inverted or empty
boxes, boxes outside the image, the 0,0,1,1 placeholder, chosen indexes out of range, and a
chosen image that disagrees with its candidate row.
"""

from __future__ import annotations

SCHEMA_VERSION = 5
# Tables whose content the validator reads: any change to them bumps ledger_version.n, which the
# validator's memo signature uses instead of the database file's stat (so that writing a health
# snapshot does not make the next validation recompute everything).
VALIDATED_TABLES = ("decisions", "candidates", "embedding_index", "legacy_lines", "repairs", "retractions")

_HASH = "length({c}) = 64 AND {c} NOT GLOB '*[^0-9a-f]*'"
_REL = "length({c}) > 0 AND substr({c}, 1, 1) <> '/' AND {c} NOT LIKE '../%'"

_VERSION_TRIGGERS = "\n".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_version AFTER {event} ON {table} "
    "BEGIN UPDATE ledger_version SET n = n + 1 WHERE id = 1; END;"
    for table in VALIDATED_TABLES
    for event in ("INSERT", "UPDATE", "DELETE")
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY CHECK (length(id) > 0),
    tool        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    host        TEXT,
    pid         INTEGER
);

CREATE TABLE IF NOT EXISTS decisions (
    id            INTEGER PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions(id),
    kind          TEXT NOT NULL CHECK (kind IN ('selection', 'crop')),
    set_id        TEXT NOT NULL CHECK (length(set_id) > 0),
    directory     TEXT NOT NULL,
    project       TEXT NOT NULL CHECK (length(project) > 0),
    n_candidates  INTEGER NOT NULL CHECK (n_candidates >= 1),
    chosen_idx    INTEGER NOT NULL CHECK (chosen_idx >= 0 AND chosen_idx < n_candidates),
    chosen_path   TEXT NOT NULL CHECK ({_REL.format(c="chosen_path")}),
    chosen_hash   TEXT NOT NULL CHECK ({_HASH.format(c="chosen_hash")}),
    chosen_width  INTEGER NOT NULL CHECK (chosen_width > 0),
    chosen_height INTEGER NOT NULL CHECK (chosen_height > 0),
    crop_x1 REAL, crop_y1 REAL, crop_x2 REAL, crop_y2 REAL,
    norm_x1 REAL, norm_y1 REAL, norm_x2 REAL, norm_y2 REAL,
    created_at    TEXT NOT NULL,
    CHECK (
        (kind = 'selection'
            AND crop_x1 IS NULL AND crop_y1 IS NULL AND crop_x2 IS NULL AND crop_y2 IS NULL
            AND norm_x1 IS NULL AND norm_y1 IS NULL AND norm_x2 IS NULL AND norm_y2 IS NULL)
        OR
        (kind = 'crop'
            AND crop_x1 IS NOT NULL AND crop_y1 IS NOT NULL
            AND crop_x2 IS NOT NULL AND crop_y2 IS NOT NULL
            AND norm_x1 IS NOT NULL AND norm_y1 IS NOT NULL
            AND norm_x2 IS NOT NULL AND norm_y2 IS NOT NULL
            AND crop_x1 >= 0 AND crop_y1 >= 0
            AND crop_x2 > crop_x1 AND crop_y2 > crop_y1
            AND crop_x2 <= chosen_width AND crop_y2 <= chosen_height
            AND norm_x1 >= 0 AND norm_y1 >= 0 AND norm_x2 <= 1 AND norm_y2 <= 1
            AND norm_x2 > norm_x1 AND norm_y2 > norm_y1
            AND NOT (norm_x1 = 0 AND norm_y1 = 0 AND norm_x2 = 1 AND norm_y2 = 1))
    )
);
CREATE INDEX IF NOT EXISTS decisions_session ON decisions(session_id, set_id);
CREATE INDEX IF NOT EXISTS decisions_chosen_hash ON decisions(chosen_hash);

CREATE TABLE IF NOT EXISTS candidates (
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    path        TEXT NOT NULL CHECK ({_REL.format(c="path")}),
    hash        TEXT NOT NULL CHECK ({_HASH.format(c="hash")}),
    stage       TEXT,
    width       INTEGER NOT NULL CHECK (width > 0),
    height      INTEGER NOT NULL CHECK (height > 0),
    PRIMARY KEY (decision_id, idx)
);
CREATE INDEX IF NOT EXISTS candidates_path ON candidates(path);

CREATE TRIGGER IF NOT EXISTS candidates_consistent BEFORE INSERT ON candidates
BEGIN
    SELECT RAISE(ABORT, 'candidate index out of range for its decision')
    WHERE NEW.idx >= (SELECT n_candidates FROM decisions WHERE id = NEW.decision_id);
    SELECT RAISE(ABORT, 'chosen candidate disagrees with its decision row')
    WHERE EXISTS (SELECT 1 FROM decisions d WHERE d.id = NEW.decision_id
                  AND d.chosen_idx = NEW.idx
                  AND (d.chosen_path <> NEW.path OR d.chosen_hash <> NEW.hash
                       OR d.chosen_width <> NEW.width OR d.chosen_height <> NEW.height));
END;

CREATE TABLE IF NOT EXISTS embedding_index (
    path        TEXT PRIMARY KEY CHECK ({_REL.format(c="path")}),
    hash        TEXT NOT NULL CHECK ({_HASH.format(c="hash")}),
    dim         INTEGER NOT NULL CHECK (dim > 0),
    model       TEXT NOT NULL CHECK (length(model) > 0),
    file_size   INTEGER NOT NULL CHECK (file_size > 0),
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS embedding_index_hash ON embedding_index(hash);

CREATE TABLE IF NOT EXISTS embed_failures (
    path        TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    failed_at   TEXT NOT NULL
);

-- Every legacy line taken in by import-legacy (re-running skips these), and what it became.
CREATE TABLE IF NOT EXISTS legacy_lines (
    source       TEXT NOT NULL,
    line         INTEGER NOT NULL CHECK (line >= 1),
    sha          TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('selection', 'crop', 'index')),
    decision_id  INTEGER REFERENCES decisions(id),
    index_path   TEXT,
    imported_at  TEXT NOT NULL,
    PRIMARY KEY (source, line, sha),
    CHECK ((kind = 'index') = (index_path IS NOT NULL AND decision_id IS NULL))
);
CREATE INDEX IF NOT EXISTS legacy_lines_decision ON legacy_lines(decision_id);

-- Legacy lines that could not be imported, with their finding codes. Retried on every import.
CREATE TABLE IF NOT EXISTS quarantine (
    source          TEXT NOT NULL,
    line            INTEGER NOT NULL CHECK (line >= 1),
    sha             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    codes           TEXT NOT NULL CHECK (length(codes) > 0),
    message         TEXT NOT NULL,
    raw             TEXT NOT NULL,
    quarantined_at  TEXT NOT NULL,
    PRIMARY KEY (source, line, sha)
);

-- What import-legacy left out of a decision it imported (e.g. a rejected variant deleted since).
CREATE TABLE IF NOT EXISTS import_notes (
    source  TEXT NOT NULL,
    line    INTEGER NOT NULL,
    sha     TEXT NOT NULL,
    note    TEXT NOT NULL,
    UNIQUE (source, line, sha, note)
);

-- Repairs (curalog repair ...): each repaired value with its provenance. The decision row holds
-- the repaired values; the old ones stay here (and in the legacy line, which is never edited).
CREATE TABLE IF NOT EXISTS repairs (
    id           INTEGER PRIMARY KEY,
    decision_id  INTEGER NOT NULL REFERENCES decisions(id),
    source       TEXT,
    line         INTEGER,
    sha          TEXT,
    what         TEXT NOT NULL CHECK (length(what) > 0),
    old_value    TEXT NOT NULL CHECK (json_valid(old_value)),
    new_value    TEXT NOT NULL CHECK (json_valid(new_value)),
    method       TEXT NOT NULL CHECK (length(method) > 0),
    evidence     TEXT NOT NULL,
    confidence   REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    applied_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS repairs_decision ON repairs(decision_id);

-- Undone decisions. A decision row is never deleted or edited: undoing it adds a row here, and
-- every reader (validator, dataset, export, counts) leaves retracted decisions out.
CREATE TABLE IF NOT EXISTS retractions (
    decision_id   INTEGER PRIMARY KEY REFERENCES decisions(id),
    session_id    TEXT NOT NULL REFERENCES sessions(id),
    reason        TEXT NOT NULL CHECK (length(reason) > 0),
    retracted_at  TEXT NOT NULL
);

-- Health over time: one row per `curalog health` / `check` run (figures as JSON).
CREATE TABLE IF NOT EXISTS snapshots (
    id        INTEGER PRIMARY KEY,
    taken_at  TEXT NOT NULL,
    figures   TEXT NOT NULL CHECK (json_valid(figures))
);
CREATE INDEX IF NOT EXISTS snapshots_taken ON snapshots(taken_at);

-- Every finding present at the last health run, since when it has been seen, and when an alert
-- announced it (NULL: not yet). A finding that disappears is deleted; if it comes back, it is new.
CREATE TABLE IF NOT EXISTS findings_seen (
    key           TEXT PRIMARY KEY,
    code          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    source        TEXT NOT NULL,
    line          INTEGER,
    project       TEXT NOT NULL,
    path          TEXT NOT NULL,
    message       TEXT NOT NULL,
    fix           TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    announced_at  TEXT
);
CREATE INDEX IF NOT EXISTS findings_seen_first ON findings_seen(first_seen);

CREATE TABLE IF NOT EXISTS ledger_version (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   INTEGER NOT NULL
);
INSERT OR IGNORE INTO ledger_version (id, n) VALUES (1, 0);
{_VERSION_TRIGGERS}
-- A cache of what was learned about image files, keyed by their stat identity. Safe to delete.
CREATE TABLE IF NOT EXISTS file_facts (
    path      TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    width     INTEGER NOT NULL CHECK (width > 0),
    height    INTEGER NOT NULL CHECK (height > 0)
);
"""
