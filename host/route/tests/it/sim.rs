//! Simulation (later).
