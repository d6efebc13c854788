//! Shared shapes and helpers for Tandem's criterion benchmarks (the benches live in `benches/`).
