//! Recording times parsed from paths (being written).
