//! Independent AT clients against the simulator.
