//! Our AT engine against the simulator.
