//! The hash-chained, write-ahead audit log (being written).
