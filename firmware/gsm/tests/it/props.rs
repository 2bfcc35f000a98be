//! Property tests: round trips of random text and headers, and no panic on any input.
