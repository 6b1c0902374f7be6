//! Connections (placeholder until written).
