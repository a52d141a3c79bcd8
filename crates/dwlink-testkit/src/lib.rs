//! Test support for dwlink.
